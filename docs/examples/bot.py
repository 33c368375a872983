import asyncio
import os

from hubbub.sdk import FrameCounterTrack, ToneTrack, build_token, connect

URL = os.environ.get("HUBBUB_URL", "http://127.0.0.1:8080")
APP_ID = os.environ["HUBBUB_APP_ID"]  # your project's App ID and App Certificate (console)
APP_CERTIFICATE = os.environ["HUBBUB_APP_CERTIFICATE"]


async def main() -> None:
    token = build_token(APP_ID, APP_CERTIFICATE, user_id="bot", channel="room1")
    async with await connect(URL, token) as room:
        await room.publish(ToneTrack(440))                       # a microphone
        await room.publish(FrameCounterTrack(320, 240, 15))      # a camera
        video = await room.wait_for_track("alice", kind="video", timeout=30)
        frame = await video.recv()                               # decoded av.VideoFrame
        print(frame.width, frame.height)

asyncio.run(main())
