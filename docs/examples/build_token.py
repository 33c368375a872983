import os

from hubbub.sdk.token import build_token

token = build_token(
    os.environ["HUBBUB_APP_ID"],
    os.environ["HUBBUB_APP_CERTIFICATE"],
    user_id="alice",
    channel="room1",
    role="host",
    expires_in=3600,
    privileges={"join_channel": 3600, "subscribe": 3600, "publish_audio": 600},
)
print(token)
