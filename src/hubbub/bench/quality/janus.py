"""The call through Janus 1.1's videoroom (:class:`hubbub.bench.janus.JanusServer`): an SFU that
forwards what it receives and adapts nothing towards its subscribers.

The lab page (``role=janus-publish`` / ``janus-subscribe``) holds one RTCPeerConnection; this
module speaks Janus's HTTP API for it. The publisher's offer goes to ``configure``, and its answer
comes back; a subscriber ``join``s with the publisher's feed, and its answer to Janus's offer goes
to ``start``. Janus is ICE-lite here, as hubbub is, so a relayed leg is the same trick as the Web
SDK's ``mediaRelay``: the page applies Janus's description with its candidates moved to a relay
started towards the port Janus gave that connection (one port per handle, known only from its
description).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlencode

from hubbub.bench.janus import ROOM, JanusError, JanusServer
from hubbub.bench.quality.call import Run, Source, relay_chain, sfu_call, until
from hubbub.bench.quality.speech import Speech
from hubbub.bench.sfu.offer import remote_transport
from hubbub.netsim import Impairment, Relay


async def janus_call(
    browser: Any, base: str, janus: JanusServer, run: Run, seconds: float, source: Source, speech: Speech
) -> list[dict[str, Any]]:
    feed = 0
    handles: list[int] = []

    async def relayed(stack: contextlib.AsyncExitStack, sdp: str, spec: str | Impairment | None) -> list[Relay]:
        if spec is None:
            return []
        return list(await stack.enter_async_context(relay_chain(1, remote_transport(sdp).address, spec)))

    def through(relays: list[Relay]) -> str | None:
        return None if not relays else "{}:{}".format(*relays[0].address)

    async def join_subscriber(handle: int) -> dict[str, Any]:
        """Join the publisher's feed; 428 (no such feed) until its media has started."""
        request = {"request": "join", "ptype": "subscriber", "room": ROOM, "streams": [{"feed": feed}]}
        for _ in range(149):  # 30 s: on a lossy leg the handshake that makes the feed can take that long
            try:
                return await janus.message(handle, request)
            except JanusError as exc:
                if "428" not in str(exc):
                    raise
            await asyncio.sleep(0.2)
        return await janus.message(handle, request)

    async def connect(
        stack: contextlib.AsyncExitStack, who: str, page: Any, spec: str | Impairment | None
    ) -> list[Relay]:
        nonlocal feed
        role = "janus-publish" if who == "publisher" else "janus-subscribe"
        await page.goto(f"{base}/lab/?" + urlencode({"role": role, **source.query}))
        await until(page, "window.lab.ready", 30)
        handle = await janus.attach()
        handles.append(handle)
        if who == "publisher":
            joined = await janus.message(handle, {"request": "join", "ptype": "publisher", "room": ROOM})
            feed = int(joined["plugindata"]["data"]["id"])
            offer = await page.evaluate("window.lab.offer()")
            event = await janus.message(
                handle, {"request": "configure", "audio": True, "video": True}, {"type": "offer", "sdp": offer}
            )
            answer = event["jsep"]["sdp"]
            relays = await relayed(stack, answer, spec)
            await page.evaluate("([sdp, relay]) => window.lab.accept(sdp, relay)", [answer, through(relays)])
            await janus.trickle_done(handle)
            # Janus knows a feed only once its connection is up (on a slow leg, a while after the answer)
            await until(page, "window.pc.connectionState === 'connected'", 30)
            return relays
        event = await join_subscriber(handle)
        offer = event["jsep"]["sdp"]
        relays = await relayed(stack, offer, spec)
        answer = await page.evaluate("([sdp, relay]) => window.lab.answerOffer(sdp, relay)", [offer, through(relays)])
        await janus.message(handle, {"request": "start"}, {"type": "answer", "sdp": answer})
        await janus.trickle_done(handle)
        return relays

    try:
        return await sfu_call(browser, run, seconds, source, speech, connect)
    finally:
        for handle in handles:
            with contextlib.suppress(Exception):
                await janus.detach(handle)
