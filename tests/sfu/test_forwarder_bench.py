"""The forwarding hot path: correctness of a 1 -> 50 fan-out, plus a printed CPU cost.

Run with ``-s`` to see the number. Nothing here asserts on time: the machine is shared.
"""

from __future__ import annotations

import random
import time

from hubbub.proto.rtp import RtpPacket
from hubbub.sfu import Router

SUBSCRIBERS = 50
PACKETS = 10_000
SIZE = 1200


class CountingSink:
    __slots__ = ("bytes", "last", "packets")

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.last = b""

    def send_rtp(self, packet: bytes) -> None:
        self.packets += 1
        self.bytes += len(packet)
        self.last = packet

    def send_rtcp(self, packet: bytes) -> None:
        pass


def test_fan_out_1_to_50_cpu_per_packet_sent() -> None:
    router = Router(rng=random.Random(42))
    router.add_up_track(
        "cam",
        kind="video",
        ssrc=0xCAFE,
        codecs=[(96, "video/VP8", 90_000, None)],
        publisher=CountingSink(),
        publisher_key="pub",
    )
    sinks = [CountingSink() for _ in range(SUBSCRIBERS)]
    downs = [router.subscribe("cam", i, s, ssrc=router.allocate_ssrc()) for i, s in enumerate(sinks)]
    key = b"\x10\x00\x9d\x01\x2a" + bytes(SIZE - 12 - 5)
    delta = b"\x10\x01" + bytes(SIZE - 12 - 2)
    packets = [
        bytes(
            RtpPacket(
                pt=96, seq=(60_000 + i) & 0xFFFF, ts=3000 * (i // 4), ssrc=0xCAFE, payload=key if i == 0 else delta
            )
        )
        for i in range(PACKETS)
    ]
    assert all(len(p) == SIZE for p in packets)
    on_rtp = router.on_rtp

    start = time.process_time()
    for i, packet in enumerate(packets):
        on_rtp("pub", packet, i * 0.001)
    cpu = time.process_time() - start

    sent = sum(s.packets for s in sinks)
    assert sent == SUBSCRIBERS * PACKETS
    assert all(s.packets == PACKETS and s.bytes == PACKETS * SIZE for s in sinks)
    assert all(d.packets_sent == PACKETS for d in downs)
    # The last packet each subscriber got is the last one sent, in its own SSRC/seq space.
    for s, d in zip(sinks, downs, strict=True):
        last = RtpPacket.parse(s.last)
        assert last.ssrc == d.ssrc and last.seq == d.munger.last_seq
        assert s.last[12:] == packets[-1][12:]
    assert sum(router.drops.values()) == 0
    us = cpu / sent * 1e6
    print(f"\nfan-out 1 -> {SUBSCRIBERS}, {PACKETS} x {SIZE} B: {us:.2f} us CPU per packet sent ({cpu:.2f} s)")
