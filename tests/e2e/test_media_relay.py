"""One participant's media goes through an impairment relay (``connect(..., media_relay=...)``),
the other's goes straight to the media port: the relay (hubbub.netsim) carries the first one's packets,
media flows both ways, and the relay's added delay shows in that participant's media round trip."""

from __future__ import annotations

import asyncio
from typing import Any

from av import AudioFrame, VideoFrame

from hubbub.netsim import Impairment, Relay
from hubbub.sdk import FrameCounterTrack, Reconnected, Room, ToneTrack, connect, detect_tone, read_frame_counter

DELAY_DOWN = 0.050  # added from the server to the relayed client


def local_addresses(room: Room) -> set[tuple[str, int]]:
    """The host candidates this client's two connections gathered (aiortc's ICE gatherers)."""
    found: set[tuple[str, int]] = set()
    for pc in (room._media.publisher, room._media.subscriber):
        for transceiver in pc.getTransceivers() if pc is not None else []:
            gatherer = transceiver.receiver.transport.transport.iceGatherer
            found |= {(c.ip, c.port) for c in gatherer.getLocalCandidates()}
    return found


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
    media_port = live.platform.transport.udp_address[1]
    relay = await Relay(to=("127.0.0.1", media_port), down=Impairment(delay_ms=DELAY_DOWN * 1000)).start()
    alice = await connect(live.url, live.token("alice"), media_relay="{}:{}".format(*relay.address))
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

        # The server sees bob's two connections at his own addresses, alice's at two others: the
        # relay's upstream sockets, one per connection (aiortc binds one socket per candidate).
        room = next(iter(live.platform.rooms.rooms.values()))
        media = live.platform.rooms.media_of(room)
        by_identity = {p.identity: p for p in room.participants.values()}
        relayed = {peer.selected_address for peer in media.participant(by_identity["alice"]).peers()}
        direct = {peer.selected_address for peer in media.participant(by_identity["bob"]).peers()}
        assert len(direct) == 2 and direct <= local_addresses(bob)
        assert len(relayed) == 2 and not relayed & local_addresses(alice)
        assert relay.stats()["flows"] >= 2

        # The relay's delay is in alice's media round trip, in both of her connections, not in bob's.
        router = media.router
        pubs = {pub.kind + p.identity: pub.sid for p in room.participants.values() for pub in p.publications.values()}
        to_alice = router.down_track(pubs["videobob"], by_identity["alice"].sid)
        to_bob = router.down_track(pubs["videoalice"], by_identity["bob"].sid)
        assert to_alice is not None and to_bob is not None
        # Both ways: alice's audio and video up, and every packet of bob's video to her down.
        stats = relay.stats()
        assert stats["up"]["forwarded"] > 50 and stats["down"]["forwarded"] >= to_alice.packets_sent > 10
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
        await relay.close()


async def test_a_resumed_participant_stays_on_the_relay(live: Any) -> None:
    """A resume builds new peer connections from new SDP: the rewrite applies to those too."""
    media_port = live.platform.transport.udp_address[1]
    async with Relay(to=("127.0.0.1", media_port)) as relay:
        alice = await connect(live.url, live.token("alice"))
        bob = await connect(live.url, live.token("bob"), media_relay="{}:{}".format(*relay.address))
        try:
            await alice.publish(FrameCounterTrack(160, 120, 15))
            await _counters(await bob.wait_for_track("alice", kind="video", timeout=15), 3)
            flows, old = relay.stats()["flows"], bob._media.subscriber
            events = bob.events()
            socket: Any = bob._signal._ws
            socket.transport.abort()  # the network drops the signaling connection
            async for event in events:
                if isinstance(event, Reconnected):
                    assert event.resumed
                    break
            video = await bob.wait_for_track("alice", kind="video", timeout=15)
            await _counters(video, 5)
            assert bob._media.subscriber is not old
            room = next(iter(live.platform.rooms.rooms.values()))
            me = next(p for p in room.participants.values() if p.identity == "bob")
            peers = live.platform.rooms.media_of(room).participant(me).peers()
            assert peers and not {peer.selected_address for peer in peers} & local_addresses(bob)
            assert relay.stats()["flows"] > flows
        finally:
            await alice.disconnect()
            await bob.disconnect()
