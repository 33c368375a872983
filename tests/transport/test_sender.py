"""The transport's senders: the native one sends what the Python one sends, byte for byte.

One context per connection protects every SSRC (media, RTX, a resent packet) and SRTCP, so the
native sender's datagrams must equal those of one libsrtp session (pylibsrtp) fed the same
packets; the receiver's session must accept each once.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest

from hubbub.proto.rtcp import Pli
from hubbub.proto.rtp import RtpPacket
from hubbub.proto.srtp import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, SrtpError, SrtpProfile, SrtpSession
from hubbub.transport import native
from hubbub.transport.sender import NativeSender, PythonSender, Sender, SendTo, make_sender
from hubbub.transport.stats import PeerStats

lib = native.load()
needs_native = pytest.mark.skipif(lib is None, reason=f"native sender unavailable: {native.failure()}")

MEDIA, RTX = 0x1111, 0x2222


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for s in made:
        s.close()


def _udp(made: list[socket.socket]) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    made.append(s)
    return s


def _sendto(tx: socket.socket) -> SendTo:
    def sendto(data: bytes, addr: tuple[str, int]) -> None:
        tx.sendto(data, addr)

    return sendto


def _drain(s: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(s.recv(4096))
        except BlockingIOError:
            return got


def _traffic(rng: random.Random) -> list[tuple[str, bytes]]:
    """Media and RTX packets on two SSRCs, a resent packet (same seq) and RTCP, interleaved."""
    out: list[tuple[str, bytes]] = []
    for i in range(60):
        payload = rng.randbytes(rng.choice((20, 300, 1100)))
        out.append(("rtp", bytes(RtpPacket(pt=96, seq=(65_500 + i) & 0xFFFF, ts=90 * i, ssrc=MEDIA, payload=payload))))
        if i % 7 == 3:
            out.append(("rtp", bytes(RtpPacket(pt=97, seq=i, ts=90 * i, ssrc=RTX, payload=b"\x00\x01" + payload))))
        if i % 11 == 5:
            out.append(("rtp", out[-2][1] if out[-2][0] == "rtp" else out[-1][1]))  # resent without RTX
        if i % 13 == 0:
            out.append(("rtcp", bytes(Pli(MEDIA, 0xABCD))))
    return out


def _send(sender: Sender, traffic: list[tuple[str, bytes]]) -> None:
    for kind, packet in traffic:
        (sender.send_rtp if kind == "rtp" else sender.send_rtcp)(packet)


@needs_native
@pytest.mark.parametrize("profile", [AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80], ids=lambda p: p.name)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "ice-tcp"])
def test_native_sender_matches_one_libsrtp_context(
    sockets: list[socket.socket], profile: SrtpProfile, tcp: bool
) -> None:
    rng = random.Random(profile.libsrtp_id)
    local, remote = rng.randbytes(profile.key_salt_len), rng.randbytes(profile.key_salt_len)
    traffic = _traffic(rng)
    received = []
    stats = []
    for lib_or_none in (None, lib):
        rx, tx = _udp(sockets), _udp(sockets)
        st = PeerStats()
        sender = make_sender(lib_or_none, st)
        assert isinstance(sender, NativeSender if lib_or_none is not None else PythonSender)
        sender.set_keys(SrtpSession(profile, local, remote), local)
        sender.set_path((rx.getsockname(), _sendto(tx), None if tcp else tx.fileno()))
        _send(sender, traffic)
        sender.flush()
        received.append(_drain(rx))
        stats.append(st)
    py, c = received
    assert len(py) == len(traffic) and c == py
    assert (stats[1].rtp_out, stats[1].rtcp_out, stats[1].packets_out, stats[1].bytes_out) == (
        stats[0].rtp_out,
        stats[0].rtcp_out,
        stats[0].packets_out,
        stats[0].bytes_out,
    )
    # The receiver takes each packet once: a repeated index is a replay, whoever sent it.
    rx_session = SrtpSession(profile, remote, local)
    replays = 0
    for data in c:
        try:
            rx_session.unprotect_rtcp(data) if 191 < data[1] < 224 else rx_session.unprotect_rtp(data)
        except SrtpError as exc:
            assert "replay" in exc.reason
            replays += 1
    assert replays == sum(1 for i in range(60) if i % 11 == 5)


@pytest.mark.parametrize("use_native", [False, pytest.param(True, marks=needs_native)], ids=["python", "native"])
def test_nothing_is_sent_without_keys_or_a_path(sockets: list[socket.socket], use_native: bool) -> None:
    rx, tx = _udp(sockets), _udp(sockets)
    stats = PeerStats()
    sender = make_sender(lib if use_native else None, stats)
    path = (rx.getsockname(), _sendto(tx), tx.fileno())
    rtp = bytes(RtpPacket(pt=96, seq=1, ts=0, ssrc=MEDIA, payload=b"x" * 10))
    sender.set_path(path)  # a path, no keys yet
    sender.send_rtp(rtp)
    sender.send_rtcp(bytes(Pli(MEDIA, 1)))
    session = SrtpSession(AEAD_AES_128_GCM, bytes(28), bytes(28))
    sender.set_keys(session, bytes(28))
    sender.set_path(None)  # keys, no path (not connected)
    sender.send_rtp(rtp)
    sender.flush()
    assert stats.dropped_not_connected == 3 and stats.packets_out == 0
    assert _drain(rx) == []
    sender.set_path(path)
    sender.send_rtp(rtp)
    sender.flush()
    assert stats.rtp_out == 1 and len(_drain(rx)) == 1


@needs_native
def test_native_counts_reach_the_peer_stats_on_flush(sockets: list[socket.socket]) -> None:
    rx, tx = _udp(sockets), _udp(sockets)
    stats = PeerStats()
    sender = make_sender(lib, stats)
    sender.set_keys(SrtpSession(AEAD_AES_128_GCM, bytes(28), bytes(28)), bytes(28))
    sender.set_path((rx.getsockname(), _sendto(tx), tx.fileno()))
    for i in range(5):
        sender.send_rtp(bytes(RtpPacket(pt=96, seq=i, ts=0, ssrc=MEDIA, payload=b"x" * 100)))
    assert stats.rtp_out == 0  # counted in C so far
    sender.flush()
    assert stats.rtp_out == stats.packets_out == 5 and stats.bytes_out == 5 * (12 + 100 + 16)
    sender.set_path(None)  # a path change flushes too
    sender.send_rtp(bytes(RtpPacket(pt=96, seq=9, ts=0, ssrc=MEDIA)))
    sender.flush()
    assert stats.dropped_not_connected == 1
