import asyncio
import os

from hubbub.sdk import build_token

URL = os.environ.get("HUBBUB_URL", "http://127.0.0.1:8080")
token = build_token(os.environ["HUBBUB_APP_ID"], os.environ["HUBBUB_APP_CERTIFICATE"], user_id="alice", channel="*")


async def main() -> None:
    from hubbub.sdk.messaging import connect_rtm
    from hubbub.schema import messaging as rtm

    client = await connect_rtm(URL, token)
    await client.subscribe("lobby")
    ack = await client.send("lobby", text="hello")            # ack.seq
    await client.send_peer("bob", data={"invite": "room7"})
    page = await client.history("lobby", before_seq=ack.seq, limit=20)
    async for event in client:
        if isinstance(event, rtm.MessageEvent):
            print(event.message.sender, event.message.text)
            break
    print("seq", ack.seq, "history", len(page.messages))
    await client.close()


asyncio.run(main())
