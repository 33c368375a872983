"""``hubbub bench sfu``'s Janus target: the load generator's participants in Janus's videoroom
(:class:`hubbub.bench.janus.JanusServer`), one handle per simulated peer connection."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hubbub.bench.janus import ROOM, JanusError, JanusServer, find_janus
from hubbub.bench.sfu.loadgen import LoadGen, SimParticipant
from hubbub.bench.sfu.offer import answer_offer, publisher_offer, remote_transport

__all__ = ["JanusError", "JanusTarget", "find_janus"]


class _Member:
    def __init__(self) -> None:
        self.feed = 0  # the publisher's feed id in the room
        self.handles: list[int] = []


class JanusTarget(JanusServer):
    name = "janus"
    secure = True

    def __init__(self) -> None:
        super().__init__()
        self._members: list[_Member] = []

    # --- participants ----------------------------------------------------------------------------

    async def join(self, gen: LoadGen, participant: SimParticipant) -> None:
        member = _Member()
        participant.handle = member
        self._members.append(member)
        if participant.streams:
            await self._publish(gen, participant, member)
        elif participant.subscribes:
            await self._subscribe(gen, participant, self._feeds_for(participant))

    def _feeds_for(self, participant: SimParticipant) -> list[int]:
        return [m.feed for m in self._members if m.feed and m is not participant.handle]

    async def _publish(self, gen: LoadGen, participant: SimParticipant, member: _Member) -> None:
        handle = await self.attach()
        member.handles.append(handle)
        joined = await self.message(
            handle, {"request": "join", "ptype": "publisher", "room": ROOM, "display": participant.name}
        )
        member.feed = int(joined["plugindata"]["data"]["id"])
        peer = await gen.new_peer()
        offer = publisher_offer(peer, participant.streams, gen.fingerprint, participant.name)
        kinds = {s.kind for s in participant.streams}
        event = await self.message(
            handle,
            {"request": "configure", "audio": "audio" in kinds, "video": "video" in kinds},
            {"type": "offer", "sdp": offer},
        )
        jsep = event.get("jsep")
        if not jsep or jsep.get("type") != "answer":
            raise JanusError(f"configure brought no answer: {event.get('plugindata')}")
        await self.trickle_done(handle)
        remote = remote_transport(jsep["sdp"])
        peer.set_remote(remote.address, remote.ufrag, remote.pwd, remote.fingerprints, remote.setup)
        await peer.connect()
        participant.publisher = peer
        peer.video_streams = [s for s in participant.streams if s.kind == "video"]
        for stream in participant.streams:
            stream.peer = peer

    async def _subscribe(self, gen: LoadGen, participant: SimParticipant, feeds: list[int]) -> None:
        if not feeds:
            return
        member = participant.handle
        assert isinstance(member, _Member)
        handle = await self.attach()
        member.handles.append(handle)
        event = await self.message(
            handle,
            {"request": "join", "ptype": "subscriber", "room": ROOM, "streams": [{"feed": f} for f in feeds]},
        )
        jsep = event.get("jsep")
        if not jsep or jsep.get("type") != "offer":
            raise JanusError(f"subscriber join brought no offer: {event.get('plugindata')}")
        peer = await gen.new_peer()
        participant.subscriber_peers.append(peer)
        await self.message(
            handle, {"request": "start"}, {"type": "answer", "sdp": answer_offer(jsep["sdp"], peer, gen.fingerprint)}
        )
        await self.trickle_done(handle)
        remote = remote_transport(jsep["sdp"])
        peer.set_remote(remote.address, remote.ufrag, remote.pwd, remote.fingerprints, remote.setup)
        await peer.connect()

    async def all_joined(self, gen: LoadGen, participants: Sequence[SimParticipant]) -> None:
        """Publishers that also subscribe (a meeting) subscribe once every feed exists."""
        gate = asyncio.Semaphore(16)

        async def one(p: SimParticipant) -> None:
            async with gate:
                await self._subscribe(gen, p, self._feeds_for(p))

        await asyncio.gather(*(one(p) for p in participants if p.streams and p.subscribes))

    def details(self) -> dict[str, Any]:
        return {"janus_errors": self._errors} if self._errors else {}

    async def stop(self) -> None:
        self._members.clear()
        await super().stop()
