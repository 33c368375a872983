"""10% of the SFU's packets to one subscriber are dropped by the kernel (nftables): NACK and
retransmission from the SFU's packet cache keep the received video intact."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from av import VideoFrame

from hubbub.sdk import FrameCounterTrack, ToneTrack, connect, read_frame_counter

TABLE = f"hubbub_loss_{os.getpid()}"


def _nft_available() -> bool:
    if os.geteuid() != 0 or shutil.which("nft") is None:
        return False
    probe = subprocess.run(["nft", "list", "tables"], capture_output=True)
    return probe.returncode == 0


@contextmanager
def drop_one_in_ten(server_port: int, client: tuple[str, int]) -> Iterator[None]:
    """Drop 10% of UDP datagrams from the server's media port to one client address."""
    family = "ip6" if ":" in client[0] else "ip"
    rules = (
        f"table inet {TABLE} {{\n  chain out {{\n    type filter hook output priority 0;\n"
        f"    udp sport {server_port} {family} daddr {client[0]} udp dport {client[1]} numgen random mod 10 0 drop\n"
        "  }\n}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=rules.encode(), check=True)
    try:
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "inet", TABLE], check=False)


@pytest.mark.skipif(not _nft_available(), reason="needs root and nftables (scripts/test.sh installs it)")
async def test_video_survives_ten_percent_loss_on_the_subscriber_leg(live: Any) -> None:
    alice = await connect(live.url, live.token("alice"))
    bob = await connect(live.url, live.token("bob"))
    try:
        await alice.publish(ToneTrack(440))
        await alice.publish(FrameCounterTrack(320, 240, 15))
        video = await bob.wait_for_track("alice", kind="video", timeout=15)
        await asyncio.wait_for(video.recv(), 10)  # flowing before the loss starts

        room = next(iter(live.platform.rooms.rooms.values()))
        bob_p = next(p for p in room.participants.values() if p.identity == "bob")
        peer = live.platform.rooms.media_of(room).participant(bob_p).subscriber
        assert peer is not None and peer.selected_address is not None
        server_port = live.platform.transport.udp_address[1]
        router = live.platform.rooms.media_of(room).router
        video_sid = next(
            pub.sid for p in room.participants.values() for pub in p.publications.values() if pub.kind == "video"
        )
        down = router.down_track(video_sid, bob_p.sid)
        sent_before = down.packets_sent

        counters: list[int] = []
        with drop_one_in_ten(server_port, peer.selected_address):
            while len(counters) < 75:  # ~5 s of video at 15 fps
                frame = await asyncio.wait_for(video.recv(), 10)
                assert isinstance(frame, VideoFrame)
                value = read_frame_counter(frame)
                if value is not None:
                    counters.append(value)
        assert down.packets_sent - sent_before > 60
        assert down.nacks_received > 0, "the subscriber asked for nothing: was anything dropped?"
        assert down.retransmits > 0, "lost packets were not retransmitted"
        # Content intact: decoded frames carry strictly increasing counters with few skips.
        assert counters == sorted(counters) and len(set(counters)) == len(counters)
        span = counters[-1] - counters[0] + 1
        assert len(counters) / span >= 0.8, f"{span - len(counters)} of {span} frames lost"
    finally:
        await alice.disconnect()
        await bob.disconnect()
