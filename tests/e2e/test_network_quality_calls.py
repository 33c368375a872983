"""Network quality as the server measures it: every participant with media gets a network_quality
frame every 2 s listing itself and the others, and a participant whose uplink goes through a lossy
relay (hubbub.netsim) scores worse than a clean one, in its own view and in the others'."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from hubbub.netsim import Impairment, Relay
from hubbub.schema import signaling as proto
from hubbub.sdk import FrameCounterTrack, Room, ToneTrack, connect
from hubbub.sdk.records import LocalParticipant


def _record_frames(room: Room) -> list[tuple[float, proto.NetworkQuality]]:
    """Every network_quality frame ``room`` handles, with when it arrived."""
    frames: list[tuple[float, proto.NetworkQuality]] = []
    handle = room._remote.network_quality

    def recording(frame: proto.NetworkQuality, local: LocalParticipant) -> Any:
        frames.append((time.monotonic(), frame))
        return handle(frame, local)

    room._remote.network_quality = recording  # type: ignore[method-assign]
    return frames


async def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def _publish(room: Room) -> None:
    await room.publish(ToneTrack(440))
    await room.publish(FrameCounterTrack(160, 120, 15))


async def test_every_participant_gets_its_own_and_the_others_scores_every_two_seconds(live: Any) -> None:
    alice = await connect(live.url, live.token("alice"))
    bob = await connect(live.url, live.token("bob"))
    try:
        frames = {room.local_participant.sid: _record_frames(room) for room in (alice, bob)}
        await _publish(alice)
        await _publish(bob)
        await bob.wait_for_track("alice", kind="video", timeout=15)
        await alice.wait_for_track("bob", kind="video", timeout=15)
        sids = {alice.local_participant.sid, bob.local_participant.sid}
        await _until(lambda: all(len(f) >= 5 for f in frames.values()), 20, "five network_quality frames each")
        for got in frames.values():
            for _, frame in got:
                assert {q.participant_sid for q in frame.participants} == sids
            gaps = [b[0] - a[0] for a, b in itertools.pairwise(got[1:])]
            assert all(1.5 < gap < 2.6 for gap in gaps), gaps
        # A clean loopback call: both ways excellent or good, once measured, for both.
        await _until(
            lambda: all(
                q is not None and 1 <= q.uplink <= 2 and 1 <= q.downlink <= 2
                for q in (alice.local_participant.network_quality, bob.local_participant.network_quality)
            ),
            15,
            "clean links measured",
        )
        mine, bobs = alice.local_participant.network_quality, alice.participants[bob.local_participant.sid]
        assert mine is not None and bobs.network_quality is not None
        assert mine.rtt_ms is not None and mine.rtt_ms < 100
        assert bobs.network_quality.score == bob.local_participant.network_quality.score  # type: ignore[union-attr]
    finally:
        await alice.disconnect()
        await bob.disconnect()


async def test_a_lossy_uplink_scores_worse_than_a_clean_one(live: Any) -> None:
    media_port = live.platform.transport.udp_address[1]
    relay = await Relay(to=("127.0.0.1", media_port), up=Impairment(loss=0.10)).start()
    alice = await connect(live.url, live.token("alice"), media_relay="{}:{}".format(*relay.address))
    bob = await connect(live.url, live.token("bob"))
    try:
        await _publish(alice)
        await _publish(bob)
        await bob.wait_for_track("alice", kind="video", timeout=15)
        await alice.wait_for_track("bob", kind="video", timeout=15)
        alice_sid = alice.local_participant.sid

        def scores() -> tuple[int, int, int] | None:
            lossy, clean = alice.local_participant.network_quality, bob.local_participant.network_quality
            seen_by_bob = bob.participants[alice_sid].network_quality
            if lossy is None or clean is None or seen_by_bob is None or not clean.uplink:
                return None
            return lossy.uplink, clean.uplink, seen_by_bob.uplink

        await _until(lambda: (s := scores()) is not None and s[0] >= 3 and s[1] <= 2, 20, f"scores {scores()}")
        lossy_up, clean_up, seen_by_bob = scores() or (0, 0, 0)
        assert lossy_up > clean_up and seen_by_bob == lossy_up
        lossy = alice.local_participant.network_quality
        assert lossy is not None and lossy.uplink_loss_pct is not None and 5 < lossy.uplink_loss_pct < 16
        # Bob receives alice's media with the gaps of her losses; his own downlink is not blamed for them.
        clean = bob.local_participant.network_quality
        assert clean is not None and 1 <= clean.downlink < lossy_up, clean
    finally:
        await alice.disconnect()
        await bob.disconnect()
        await relay.close()
