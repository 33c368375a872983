"""A relay with the 3g profile down and 5% loss up, in front of a UDP echo target; prints its counters."""

import asyncio
import json

from hubbub.netsim import Impairment, Relay, Timeline
from hubbub.netsim.probe import echo_server, probe


async def main() -> None:
    async with echo_server() as target:
        # a server's media address in a real lab, e.g. ("127.0.0.1", 7881)
        server = target.address
        async with Relay(to=server, up=Impairment(loss=0.05, delay_ms=20), down="3g", seed=1) as relay:
            print("clients send to", relay.address)
            relay.play(Timeline.parse("1 up rate_kbps=300 queue_ms=100\n2 restore\n"))
            await probe(relay.address, count=1500, rate_pps=500)  # 3 s of 200-byte packets
            relay.set(down="clean")
            print(json.dumps(relay.stats()))


asyncio.run(main())
