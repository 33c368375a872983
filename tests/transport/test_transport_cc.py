"""Transport-wide sequence numbers on everything a connection sends, and the estimate they feed.

The Python and native senders must stamp byte-identical packets and record the same numbers
(hubbub.transport.sender); ``stamp_transport_seq`` must keep any valid packet's payload and other
extensions (a property test); and a ``SendControl`` fed real feedback must follow the path.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Iterator

import pytest
import uvloop
from hypothesis import given
from hypothesis import strategies as st
from test_sender import _drain, _sendto

from hubbub.proto import rtp_ext
from hubbub.proto.rtcp import TransportCc
from hubbub.proto.rtp import RtpPacket
from hubbub.proto.srtp import AEAD_AES_128_GCM, SrtpSession
from hubbub.transport import native
from hubbub.transport.congestion import SendControl
from hubbub.transport.sender import PythonSender, SentRecord, make_sender
from hubbub.transport.stats import PeerStats

lib = native.load()
needs_native = pytest.mark.skipif(lib is None, reason=f"native sender unavailable: {native.failure()}")
TWCC_ID = 3


@pytest.fixture
def udp() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx, tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in (rx, tx):
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
    yield rx, tx
    rx.close()
    tx.close()


def _packets(rng: random.Random) -> list[bytes]:
    """No extension; a one-byte block with the ID (overwritten), without it (appended); two-byte."""
    out = []
    for i in range(40):
        payload = rng.randbytes(rng.choice((1, 200, 1100)))
        kind = i % 4
        if kind == 0:
            ext: dict[int, bytes] = {}
        elif kind == 1:
            ext = {1: b"\x7f", TWCC_ID: b"\xff\xff", 4: b"0"}
        elif kind == 2:
            ext = {1: b"\x55", 2: b"\x01\x02\x03"}
        else:
            ext = {TWCC_ID: b"\x00\x00", 20: b"ab"}
        pkt = RtpPacket(pt=96, seq=i, ts=90 * i, ssrc=0x1234, payload=payload, marker=i % 3 == 0)
        if ext:
            profile, body = rtp_ext.build_extensions(ext, two_byte=kind == 3)
            pkt = RtpPacket(
                pt=96, seq=i, ts=90 * i, ssrc=0x1234, payload=payload, extension_profile=profile, extension=body
            )
        out.append(bytes(pkt))
    return out


def _transport_seq(packet: bytes) -> int:
    value = rtp_ext.find_ext(packet, rtp_ext.extension_offset(packet), TWCC_ID)
    assert value is not None
    return rtp_ext.parse_transport_seq(value)


@needs_native
def test_python_and_native_senders_stamp_the_same_packets(udp: tuple[socket.socket, socket.socket]) -> None:
    rng = random.Random(7)
    key = rng.randbytes(AEAD_AES_128_GCM.key_salt_len)
    peer = rng.randbytes(AEAD_AES_128_GCM.key_salt_len)
    packets = _packets(rng)
    rx, tx = udp
    received: list[list[bytes]] = []
    records: list[list[SentRecord]] = []
    for lib_or_none in (None, lib):
        sender = make_sender(lib_or_none, PeerStats())
        sender.set_keys(SrtpSession(AEAD_AES_128_GCM, key, peer), key)
        sender.set_path((rx.getsockname(), _sendto(tx), tx.fileno()))
        sender.set_transport_cc(TWCC_ID)
        for i, packet in enumerate(packets):
            sender.probe_cluster = 5 if i == 7 else -1
            sender.send_rtp(packet)
        sender.probe_cluster = -1
        session = SrtpSession(AEAD_AES_128_GCM, peer, key)
        received.append([session.unprotect_rtp(d) for d in _drain(rx)])
        records.append(sender.take_sent())
        assert sender.take_sent() == []
    py, c = received
    assert c == py and len(py) == len(packets)
    assert [_transport_seq(p) for p in py] == list(range(len(packets)))
    for sent, plain in zip(packets, py, strict=True):
        assert RtpPacket.parse(plain).payload == RtpPacket.parse(sent).payload
    assert [r[:3] for r in records[1]] == [r[:3] for r in records[0]]
    assert [r[0] for r in records[0]] == list(range(len(packets)))
    assert [r[1] for r in records[0]] == [len(p) for p in py]
    assert [r[2] for r in records[0]] == [5 if i == 7 else -1 for i in range(len(packets))]
    times = [r[3] for r in records[1]]
    assert times == sorted(times)


def test_the_numbering_wraps_and_stops_when_turned_off() -> None:
    sender = PythonSender(PeerStats())
    sender.set_keys(SrtpSession(AEAD_AES_128_GCM, bytes(28), bytes(28)), bytes(28))
    sent: list[bytes] = []
    sender.set_path((("127.0.0.1", 9), lambda d, a: sent.append(d), None))
    sender.set_transport_cc(TWCC_ID)
    sender._twcc_seq = 0xFFFF
    packet = bytes(RtpPacket(pt=96, seq=1, ts=1, ssrc=1, payload=b"x"))
    sender.send_rtp(packet)
    sender.send_rtp(packet)
    assert [r[0] for r in sender.take_sent()] == [0xFFFF, 0]
    sender.set_transport_cc(None)
    sender.send_rtp(packet)
    assert sender.take_sent() == [] and len(sent) == 3
    with pytest.raises(ValueError):
        sender.set_transport_cc(256)


_ext_ids = st.integers(min_value=1, max_value=14)


@given(
    ext=st.dictionaries(_ext_ids, st.binary(min_size=1, max_size=16), max_size=5),
    two_byte=st.booleans(),
    ext_id=_ext_ids,
    seq=st.integers(min_value=0, max_value=0xFFFF),
    payload=st.binary(max_size=64),
    csrcs=st.integers(min_value=0, max_value=3),
)
def test_stamping_keeps_the_payload_and_the_other_extensions(
    ext: dict[int, bytes], two_byte: bool, ext_id: int, seq: int, payload: bytes, csrcs: int
) -> None:
    profile, body = rtp_ext.build_extensions(ext, two_byte=two_byte) if ext else (0, None)
    packet = bytes(
        RtpPacket(
            pt=100,
            seq=1,
            ts=2,
            ssrc=3,
            csrcs=tuple(range(csrcs)),
            payload=payload,
            extension_profile=profile,
            extension=body,
        )
    )
    stamped = rtp_ext.stamp_transport_seq(packet, ext_id, seq)
    if ext_id in ext and len(ext[ext_id]) != 2:
        assert stamped is None  # an element of another length under that ID is left alone
        return
    assert stamped is not None
    parsed = RtpPacket.parse(stamped)
    assert parsed.payload == payload and parsed.csrcs == tuple(range(csrcs))
    found = rtp_ext.parse_extension_block(stamped, rtp_ext.extension_offset(stamped))
    assert rtp_ext.parse_transport_seq(found[ext_id]) == seq
    assert {i: v for i, v in found.items() if i != ext_id} == {i: v for i, v in ext.items() if i != ext_id}


class _Sender(PythonSender):
    """A Python sender whose packets go to a list."""

    def __init__(self) -> None:
        super().__init__(PeerStats())
        self.set_keys(SrtpSession(AEAD_AES_128_GCM, bytes(28), bytes(28)), bytes(28))
        self.wire: list[bytes] = []
        self.set_path((("127.0.0.1", 9), lambda d, a: self.wire.append(d), None))


async def test_send_control_follows_feedback_and_probes_with_padding() -> None:
    loop = asyncio.get_running_loop()
    sender = _Sender()
    sender.set_transport_cc(TWCC_ID)
    control = SendControl(sender, loop, loop.time, start_bps=300_000)
    assert control.estimate_bps is None  # before any feedback
    padding: list[int] = []

    def pad(size: int) -> bytes:
        padding.append(size)
        return bytes(RtpPacket(pt=97, seq=len(padding), ts=0, ssrc=9, payload=bytes(size - 12)))

    control.padding = pad
    media = bytes(RtpPacket(pt=96, seq=1, ts=1, ssrc=1, payload=bytes(1000)))
    base_us = 0
    # 3 s of 600 kbit/s media, every packet reported arriving 20 ms after it was sent
    for step in range(30):
        for _ in range(8):
            sender.send_rtp(media)
            await asyncio.sleep(0.012)
        sent = sender.take_sent()
        arrivals = {seq: base_us + int((t - sent[0][3]) * 1e6) + 20_000 for seq, _size, _c, t in sent}
        control._sender = _Replay(sent)  # type: ignore[assignment]  # take_sent is all it reads here
        control.on_rtcp(bytes(TransportCc.from_arrivals(1, 2, arrivals, step & 0xFF)), loop.time())
        control._sender = sender
        base_us = max(arrivals.values())
    assert control.estimator.feedbacks == 30 and control.estimator.lost == 0
    estimate = control.estimate_bps
    assert estimate is not None and estimate > 300_000  # a clean path: the estimate rose
    assert padding, "the initial probes went out as padding"
    control.close()


class _Replay:
    """take_sent of records already taken (the test reads them to build the feedback)."""

    def __init__(self, records: list[SentRecord]) -> None:
        self.records = records

    def take_sent(self) -> list[SentRecord]:
        records, self.records = self.records, []
        return records


def test_send_control_reschedules_on_uvloop_when_a_run_is_already_due() -> None:
    """uvloop hands back a plain Handle (no ``when``) for a time already past: padding set while
    a probe's run is due must not raise (it once broke the room's tick)."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        sender = _Sender()
        sender.set_transport_cc(TWCC_ID)
        # a clock behind the loop's: every run the pacer asks for is already due
        control = SendControl(sender, loop, lambda: loop.time() - 1.0, start_bps=300_000)
        control.padding = lambda size: bytes(RtpPacket(pt=97, seq=1, ts=0, ssrc=9, padding_size=min(size, 255)))
        control._schedule()
        control.set_padding_rate(200_000)
        control.set_padding_rate(0.0)
        control.set_padding_rate(150_000)
        await asyncio.sleep(0.05)
        control.close()
        return len(sender.wire)

    assert uvloop.run(main()) > 0
