"""One participant's media goes through an impairment relay (``connect(..., media_relay=...)``),
the other's goes straight to the media port: the relay carries exactly the first one's packets,
media flows both ways, and the relay's added delay shows in that participant's media round trip."""

from __future__ import annotations

import asyncio
from typing import Any

from av import AudioFrame, VideoFrame

from hubbub.sdk import FrameCounterTrack, Room, ToneTrack, connect, detect_tone, read_frame_counter

DELAY_DOWN = 0.050  # added from the server to the relayed client


class _Forwarder(asyncio.DatagramProtocol):
    """A stand-in UDP relay: one upstream socket per client, ``delay`` on the way down."""

    def __init__(self, to: tuple[str, int], delay: float) -> None:
        self.to, self.delay = to, delay
        self.up = self.down = 0
        self.upstreams: dict[tuple[str, int], asyncio.DatagramTransport] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.opening: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        upstream = self.upstreams.get(addr)
        if upstream is None:
            task = asyncio.ensure_future(self._open(addr, data))
            self.opening.add(task)
            task.add_done_callback(self.opening.discard)
            return
        self.up += 1
        upstream.sendto(data)

    async def _open(self, client: tuple[str, int], first: bytes) -> None:
        forwarder = self

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                loop.call_later(forwarder.delay, forwarder._send_down, data, client)

        loop = asyncio.get_running_loop()
        if client in self.upstreams:
            self.upstreams[client].sendto(first)
            return
        transport, _ = await loop.create_datagram_endpoint(Upstream, remote_addr=self.to)
        self.upstreams[client] = transport
        self.up += 1
        transport.sendto(first)

    def _send_down(self, data: bytes, client: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.down += 1
            self.transport.sendto(data, client)

    def upstream_addresses(self) -> set[tuple[str, int]]:
        return {t.get_extra_info("sockname")[:2] for t in self.upstreams.values()}

    def close(self) -> None:
        for t in self.upstreams.values():
            t.close()
        if self.transport is not None:
            self.transport.close()


async def _counters(track: Any, count: int) -> list[int]:
    found: list[int] = []
    while len(found) < count:
        frame = await asyncio.wait_for(track.recv(), 10)
        assert isinstance(frame, VideoFrame)
        value = read_frame_counter(frame)
        if value is not None:
            found.append(value)
    return found


async def _publisher_rtt(room: Room) -> float | None:
    """The publisher connection's round trip from the server's receiver reports (aiortc's stats)."""
    pc = room._media.publisher
    assert pc is not None
    rtts = [s.roundTripTime for s in (await pc.getStats()).values() if s.type == "remote-inbound-rtp"]
    return max((r for r in rtts if r is not None), default=None)


async def test_one_participants_media_goes_through_the_relay(live: Any) -> None:
    loop = asyncio.get_running_loop()
    media_port = live.platform.transport.udp_address[1]
    transport, relay = await loop.create_datagram_endpoint(
        lambda: _Forwarder(("127.0.0.1", media_port), DELAY_DOWN), local_addr=("127.0.0.1", 0)
    )
    relay_port = transport.get_extra_info("sockname")[1]
    alice = await connect(live.url, live.token("alice"), media_relay=f"127.0.0.1:{relay_port}")
    bob = await connect(live.url, live.token("bob"))
    try:
        await alice.publish(ToneTrack(440))
        await alice.publish(FrameCounterTrack(160, 120, 15))
        await bob.publish(FrameCounterTrack(160, 120, 15))
        from_alice = await bob.wait_for_track("alice", kind="video", timeout=15)
        audio = await bob.wait_for_track("alice", kind="audio", timeout=15)
        from_bob = await alice.wait_for_track("bob", kind="video", timeout=15)

        # Media flows both ways: alice -> relay -> SFU -> bob and bob -> SFU -> relay -> alice.
        for counters in await asyncio.gather(_counters(from_alice, 10), _counters(from_bob, 10)):
            assert counters == sorted(counters) and len(set(counters)) >= 8
        frames = [await asyncio.wait_for(audio.recv(), 5) for _ in range(50)]
        assert detect_tone([f for f in frames if isinstance(f, AudioFrame)], 440) > 0.5

        # The relay carried alice's two connections, in both directions, and nothing of bob's.
        room = next(iter(live.platform.rooms.rooms.values()))
        media = live.platform.rooms.media_of(room)
        by_identity = {p.identity: p for p in room.participants.values()}
        relayed = {peer.selected_address for peer in media.participant(by_identity["alice"]).peers()}
        direct = {peer.selected_address for peer in media.participant(by_identity["bob"]).peers()}
        assert len(relayed) == 2 and relayed <= relay.upstream_addresses()
        assert len(direct) == 2 and not direct & relay.upstream_addresses()

        # The relay's delay is in alice's media round trip, in both of her connections, not in bob's.
        router = media.router
        pubs = {pub.kind + p.identity: pub.sid for p in room.participants.values() for pub in p.publications.values()}
        to_alice = router.down_track(pubs["videobob"], by_identity["alice"].sid)
        to_bob = router.down_track(pubs["videoalice"], by_identity["bob"].sid)
        assert to_alice is not None and to_bob is not None
        # Both ways: alice's audio and video up, and every packet of bob's video to her down.
        assert relay.up > 50 and relay.down >= to_alice.packets_sent > 10
        alice_rtt = bob_rtt = None
        for _ in range(100):  # receiver and sender reports come every second or so
            alice_rtt, bob_rtt = await _publisher_rtt(alice), await _publisher_rtt(bob)
            if None not in (to_alice.rtt, to_bob.rtt, alice_rtt, bob_rtt):
                break
            await asyncio.sleep(0.1)
        assert to_alice.rtt is not None and to_bob.rtt is not None, "no round trip measured on the subscriber legs"
        assert alice_rtt is not None and bob_rtt is not None, "no round trip measured on the publisher legs"
        for with_relay, without in ((to_alice.rtt, to_bob.rtt), (alice_rtt, bob_rtt)):
            assert 0.8 * DELAY_DOWN < with_relay - without < 2.5 * DELAY_DOWN, (with_relay, without)
    finally:
        await alice.disconnect()
        await bob.disconnect()
        relay.close()
