"""The header-extension walk on a Chromium-like audio packet: what each walker returns, plus a printed cost.

Run with ``-s`` to see nanoseconds per call. Nothing here asserts on time: the machine is shared.
The packet carries audio level (1), abs-send-time (2), transport-wide seq (3) and mid (4), the IDs
Chromium offers for audio, in the one-byte and the two-byte form (RFC 8285 §4.2, §4.3).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hubbub.proto import rtp_ext
from hubbub.proto.rtp import RtpPacket

EXTENSIONS = {1: bytes([0x80 | 42]), 2: bytes([0x12, 0x34, 0x56]), 3: bytes([0x01, 0x02]), 4: b"0"}
CALLS = 10_000


def _ns_per_call(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(CALLS):
            fn()
        best = min(best, time.process_time() - start)
    return best / CALLS * 1e9


@pytest.mark.parametrize("two_byte", [False, True])
def test_every_walker_on_a_chromium_audio_packet(two_byte: bool) -> None:
    packet = bytes(
        RtpPacket(pt=111, seq=1, ts=2, ssrc=3, payload=bytes(160)).with_extensions(EXTENSIONS, two_byte=two_byte)
    )
    buf = bytearray(packet)
    off = rtp_ext.extension_offset(packet)
    profile, words = (packet[off] << 8) | packet[off + 1], (packet[off + 2] << 8) | packet[off + 3]
    body = packet[off + 4 : off + 4 + words * 4]
    identity = rtp_ext.make_id_map({i: i for i in EXTENSIONS})
    level = rtp_ext.find_ext_offset(packet, off, 1)
    assert packet[level] == 0x80 | 42
    assert rtp_ext.find_ext_offset(packet, off, 9) == -1
    mid = rtp_ext.find_ext(packet, off, 4)
    assert mid is not None and bytes(mid) == b"0"
    assert rtp_ext.parse_extensions(profile, body) == EXTENSIONS == rtp_ext.parse_extension_block(packet, off)
    rtp_ext.remap_ext_ids(buf, off, identity)
    assert rtp_ext.set_transport_seq(buf, off, 3, 0x0102)
    assert buf == packet
    cases: dict[str, Callable[[], object]] = {
        "find_ext_offset(level, first)": lambda: rtp_ext.find_ext_offset(packet, off, 1),
        "find_ext_offset(tcc, third)": lambda: rtp_ext.find_ext_offset(packet, off, 3),
        "find_ext_offset(absent)": lambda: rtp_ext.find_ext_offset(packet, off, 9),
        "find_ext(mid, last)": lambda: rtp_ext.find_ext(packet, off, 4),
        "remap_ext_ids(identity)": lambda: rtp_ext.remap_ext_ids(buf, off, identity),
        "set_transport_seq": lambda: rtp_ext.set_transport_seq(buf, off, 3, 0x0102),
        "parse_extensions": lambda: rtp_ext.parse_extensions(profile, body),
        "parse_extension_block": lambda: rtp_ext.parse_extension_block(packet, off),
    }
    print(f"\n{'two' if two_byte else 'one'}-byte form:")
    for name, fn in cases.items():
        print(f"  {name:32s} {_ns_per_call(fn):7.1f} ns per call")
