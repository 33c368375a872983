"""The native fan-out (the transport's ``NativeSender`` + ``NativeForwarder``) against pure Python.

Two routers with the same seed run the same random input, one with :class:`PythonForwarder`,
one with :class:`NativeForwarder`. Every subscriber's sink is the send half of a ``PeerTransport``:
a real transport sender (:class:`PythonSender` for the Python router, :class:`NativeSender` for
the native one) keyed with the same keys and sending from a real UDP socket. The native router's
copies go out from C (the sender's one SRTP context, sendmmsg on the socket). The datagrams each
subscriber receives, unprotected with the subscriber's own session, must be byte-identical (and,
SRTP being deterministic for a given key, SSRC and index, so must the ciphertext).
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hubbub.proto.rtcp import GenericNack
from hubbub.proto.rtp import RtpPacket
from hubbub.proto.srtp import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, SrtpError, SrtpProfile, SrtpSession
from hubbub.sfu import Router
from hubbub.sfu.fanout import FanoutEntry
from hubbub.sfu.forwarder import NativeForwarder, PythonForwarder, make_forwarder
from hubbub.transport import native as native_mod
from hubbub.transport.sender import NativeFanout, make_sender
from hubbub.transport.stats import PeerStats

lib = native_mod.load()
needs_native = pytest.mark.skipif(lib is None, reason=f"native fan-out unavailable: {native_mod.failure()}")

VP8 = 96
OTHER_PT = 98  # negotiated by the publisher, not forwarded to every subscriber
RTX_PT = 97
EXT_ID = 3
PUB = "pub"


class SenderSink:
    """What the SFU sees of a ``PeerTransport``: its sender on a real UDP socket, and its stats."""

    def __init__(
        self,
        native: ModuleType | None,
        profile: SrtpProfile,
        local: bytes,
        remote: bytes,
        dest: tuple[str, int],
        *,
        tcp: bool,
    ) -> None:
        self.session = SrtpSession(profile, local, remote)
        self.dest = dest
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.tcp = tcp  # stand for ICE-TCP: the native side must call our sendto
        self._stats = PeerStats()
        self.sender = make_sender(native, self._stats)
        self.sender.set_keys(self.session, local)
        self.set_connected(True)

    # PacketSink and FanoutSink, as PeerTransport
    def send_rtp(self, packet: bytes) -> None:
        self.sender.send_rtp(packet)

    def send_rtcp(self, packet: bytes) -> None:
        self.sender.send_rtcp(packet)

    def fanout_entry(self, ssrc: int, pt_map: bytes) -> FanoutEntry | None:
        return self.sender.fanout_entry(ssrc, pt_map)

    @property
    def stats(self) -> PeerStats:
        self.sender.flush()
        return self._stats

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sock.sendto(data, addr)

    def set_connected(self, connected: bool) -> None:
        """As ``PeerTransport`` tells its sender when its send path changes."""
        fd = None if self.tcp else self.sock.fileno()
        self.sender.set_path((self.dest, self._sendto, fd) if connected else None)

    def close(self) -> None:
        self.sock.close()


class Publisher:
    """The publisher's sink: PLIs and receiver reports go nowhere."""

    def send_rtp(self, packet: bytes) -> None:
        pass

    def send_rtcp(self, packet: bytes) -> None:
        pass


class Subscriber:
    """One subscriber: its receiving socket and SRTP session, and a stand-in peer per router."""

    def __init__(self, rng: random.Random, index: int, *, tcp: bool = False) -> None:
        self.profile = AEAD_AES_128_GCM if index % 3 else AES_CM_128_HMAC_SHA1_80
        n = self.profile.key_salt_len
        server_keys, client_keys = rng.randbytes(n), rng.randbytes(n)
        self.index = index
        self.key = f"sub{index}"
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind(("127.0.0.1", 0))
        self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.rx.setblocking(False)
        self.rx_native = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx_native.bind(("127.0.0.1", 0))
        self.rx_native.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.rx_native.setblocking(False)
        self.py_peer = SenderSink(None, self.profile, server_keys, client_keys, self.rx.getsockname(), tcp=tcp)
        self.c_peer = SenderSink(lib, self.profile, server_keys, client_keys, self.rx_native.getsockname(), tcp=tcp)
        # The receiver's view (keys the other way round), one per router: replay state is per session.
        self.py_rx_session = SrtpSession(self.profile, client_keys, server_keys)
        self.c_rx_session = SrtpSession(self.profile, client_keys, server_keys)
        self.py_got: list[tuple[bytes, bytes]] = []  # (datagram, plaintext)
        self.c_got: list[tuple[bytes, bytes]] = []

    def drain(self) -> None:
        for sock, session, got in (
            (self.rx, self.py_rx_session, self.py_got),
            (self.rx_native, self.c_rx_session, self.c_got),
        ):
            while True:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    break
                try:
                    plain = session.unprotect_rtcp(data) if 191 < data[1] < 224 else session.unprotect_rtp(data)
                except SrtpError as exc:
                    # A NACKed packet resent without RTX has the index of the original: the
                    # receiver's replay check refuses it, whoever sent it.
                    assert "replay" in exc.reason
                    plain = b"replayed"
                got.append((data, plain))

    def close(self) -> None:
        for s in (self.rx, self.rx_native):
            s.close()
        self.py_peer.close()
        self.c_peer.close()


def make_packet(rng: random.Random, seq: int, ts: int, *, keyframe: bool, pt: int = VP8, ssrc: int = 0xCAFE) -> bytes:
    size = rng.choice((40, 200, 900, 1188))
    descriptor = b"\x10\x00\x9d\x01\x2a" if keyframe else b"\x10\x01"  # VP8: key frame or not
    payload = descriptor + rng.randbytes(size)
    marker = rng.random() < 0.2
    ext = b""
    if rng.random() < 0.5:  # RFC 8285 one-byte header extension, copied as-is
        ext = b"\xbe\xde\x00\x01" + bytes([(EXT_ID << 4) | 1]) + rng.randbytes(2) + b"\x00"
    header = bytearray(bytes(RtpPacket(pt=pt, seq=seq & 0xFFFF, ts=ts & 0xFFFFFFFF, ssrc=ssrc, marker=marker))[:12])
    if ext:
        header[0] |= 0x10
    return bytes(header) + ext + payload


@pytest.fixture
def world() -> Iterator[dict[str, Any]]:
    made: list[Subscriber] = []
    yield {"subs": made}
    for s in made:
        s.close()


def build_pair(
    world: dict[str, Any], seed: int, n: int
) -> tuple[Router, Router, NativeForwarder, list[Subscriber], dict[str, int]]:
    assert lib is not None
    fw = NativeForwarder(NativeFanout(lib))
    py_router = Router(rng=random.Random(seed), forwarder=PythonForwarder())
    c_router = Router(rng=random.Random(seed), forwarder=fw)
    keys = random.Random(seed + 1)
    subs = [Subscriber(keys, i, tcp=(i == 2)) for i in range(n)]
    world["subs"].extend(subs)
    for router in (py_router, c_router):
        router.add_up_track(
            "cam",
            kind="video",
            ssrc=0xCAFE,
            rtx_ssrc=0xCAFF,
            codecs=[(VP8, "video/VP8", 90_000, RTX_PT), (OTHER_PT, "video/VP8", 90_000, None)],
            ext_ids={"urn:example:ext": EXT_ID},
            publisher=Publisher(),
            publisher_key=PUB,
        )
    ssrcs: dict[str, int] = {}
    for sub in subs:
        subscribe(py_router, c_router, sub, ssrcs)
    return py_router, c_router, fw, subs, ssrcs


def subscribe(py_router: Router, c_router: Router, sub: Subscriber, ssrcs: dict[str, int]) -> None:
    for router, peer in ((py_router, sub.py_peer), (c_router, sub.c_peer)):
        ssrc = router.allocate_ssrc()
        rtx = router.allocate_ssrc() if sub.index % 2 == 0 else None
        pt_map = {VP8: VP8} if sub.index % 4 else {VP8: VP8, OTHER_PT: OTHER_PT}
        # Subscriber 3 numbers the extension differently: the ID remap runs in Python.
        ext_ids = {"urn:example:ext": 5 if sub.index == 3 else EXT_ID}
        router.subscribe("cam", sub.key, peer, ssrc=ssrc, rtx_ssrc=rtx, pt_map=pt_map, rtx_pt=RTX_PT, ext_ids=ext_ids)
        ssrcs[sub.key] = ssrc


def compare(py_router: Router, c_router: Router, fw: NativeForwarder, subs: list[Subscriber]) -> None:
    for sub in subs:
        sub.drain()
        assert [p for _, p in sub.c_got] == [p for _, p in sub.py_got], f"{sub.key}: plaintext differs"
        assert [d for d, _ in sub.c_got] == [d for d, _ in sub.py_got], f"{sub.key}: SRTP differs"
        py_dt = py_router.down_track("cam", sub.key)
        c_dt = c_router.down_track("cam", sub.key)
        assert (py_dt is None) == (c_dt is None)
        if py_dt is None or c_dt is None:
            continue
        for name in ("packets_sent", "bytes_sent", "octets_sent", "packets_dropped", "retransmits"):
            assert getattr(c_dt, name) == getattr(py_dt, name), f"{sub.key}.{name}"
        assert c_dt.munger.last_seq == py_dt.munger.last_seq
        assert c_dt.munger.last_ts == py_dt.munger.last_ts
        assert c_dt.waiting_keyframe == py_dt.waiting_keyframe
    for sub in subs:
        a, b = sub.py_peer.stats, sub.c_peer.stats
        assert (b.rtp_out, b.rtcp_out, b.packets_out, b.bytes_out, b.dropped_not_connected) == (
            a.rtp_out,
            a.rtcp_out,
            a.packets_out,
            a.bytes_out,
            a.dropped_not_connected,
        ), sub.key


@needs_native
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_sequences_are_byte_identical(world: dict[str, Any], seed: int) -> None:
    py_router, c_router, fw, subs, ssrcs = build_pair(world, seed, 7)
    rng = random.Random(seed * 7919)
    seq, ts, now = rng.getrandbits(16), rng.getrandbits(32), 100.0
    up_ssrc = 0xCAFE
    sent: list[int] = []
    late: list[bytes] = []
    extra = 7

    def both(fn: Callable[..., object]) -> None:  # ...: the lambdas bind loop values as default arguments
        fn(py_router)
        fn(c_router)

    for step in range(1500):
        now += 0.005
        r = rng.random()
        if r < 0.05 and late:  # a late (reordered) packet
            packet = late.pop(rng.randrange(len(late)))
        else:
            seq += 1 if rng.random() < 0.9 else rng.randint(2, 6)  # loss upstream
            ts += 3000 if rng.random() < 0.3 else 0
            keyframe = step == 0 or rng.random() < 0.03
            pt = OTHER_PT if rng.random() < 0.05 else VP8
            packet = make_packet(rng, seq, ts, keyframe=keyframe, pt=pt, ssrc=up_ssrc)
            if rng.random() < 0.05:
                late.append(packet)
                continue
            sent.append(seq)
            if rng.random() < 0.02:  # a duplicate
                both(lambda r, p=packet, t=now: r.on_rtp(PUB, p, t))
        both(lambda r, p=packet, t=now: r.on_rtp(PUB, p, t))

        event = rng.random()
        sub = rng.choice(subs)
        if event < 0.02:  # subscriber-side mute / unmute
            muted = rng.random() < 0.5
            both(lambda r, k=sub.key, m=muted: (dt := r.down_track("cam", k)) and dt.set_muted(m))
        elif event < 0.03:  # paused by bandwidth allocation
            paused = rng.random() < 0.5
            both(lambda r, k=sub.key, p=paused: (dt := r.down_track("cam", k)) and dt.set_paused(p))
        elif event < 0.05 and sent:  # NACK for recent packets (RTX for half the subscribers)
            dt_c = c_router.down_track("cam", sub.key)
            if dt_c is not None and dt_c.munger.started:
                last = dt_c.munger.last_seq
                lost = sorted({(last - rng.randint(0, 40)) & 0xFFFF for _ in range(3)})
                nack = bytes(GenericNack.from_sequences(0x1234, ssrcs[sub.key], lost))
                both(lambda r, k=sub.key, n=nack, t=now: r.on_rtcp_from_subscriber(k, n, t))
        elif event < 0.055:  # a new publisher source: every subscriber switches
            up_ssrc += 2
            seq, ts = rng.getrandbits(16), rng.getrandbits(32)
            late.clear()
            both(
                lambda r, s=up_ssrc, t=now: r.replace_up_track(
                    "cam",
                    kind="video",
                    ssrc=s,
                    rtx_ssrc=s + 1,
                    codecs=[(VP8, "video/VP8", 90_000, RTX_PT), (OTHER_PT, "video/VP8", 90_000, None)],
                    ext_ids={"urn:example:ext": EXT_ID},
                    publisher=Publisher(),
                    publisher_key=PUB,
                    now=t,
                )
            )
        elif event < 0.06:  # reports (SR + SDES) to every subscriber
            both(lambda r, t=now: r.tick(t))
        elif event < 0.063:  # a subscriber leaves, another joins
            both(lambda r, k=sub.key: r.unsubscribe("cam", k))
            newcomer = Subscriber(random.Random(seed * 100 + extra), extra)
            extra += 1
            world["subs"].append(newcomer)
            subs.append(newcomer)
            subscribe(py_router, c_router, newcomer, ssrcs)
        elif event < 0.065:  # the subscriber's path goes away and comes back
            connected = rng.random() < 0.5
            sub.py_peer.set_connected(connected)
            sub.c_peer.set_connected(connected)
        if step % 50 == 0:
            compare(py_router, c_router, fw, subs)
    compare(py_router, c_router, fw, subs)
    live = [dt for s in subs if (dt := c_router.down_track("cam", s.key)) is not None]
    assert live and all(dt.native for dt in live if dt.packets_sent or dt.packets_dropped)
    assert sum(len(s.c_got) for s in subs) > 1000


@needs_native
def test_mute_keyframe_wait_and_switch_behave_the_same(world: dict[str, Any]) -> None:
    py_router, c_router, fw, subs, _ = build_pair(world, 11, 3)
    rng = random.Random(5)
    seq, ts, now = 65_530, 0, 0.0  # wraps the sequence number on the way

    def feed(count: int, *, keyframe_first: bool = False, ssrc: int = 0xCAFE) -> None:
        nonlocal seq, ts, now
        for i in range(count):
            seq, ts, now = seq + 1, ts + 3000, now + 0.033
            packet = make_packet(rng, seq, ts, keyframe=keyframe_first and i == 0, ssrc=ssrc)
            py_router.on_rtp(PUB, packet, now)
            c_router.on_rtp(PUB, packet, now)

    feed(5)  # no keyframe yet: video waits
    compare(py_router, c_router, fw, subs)
    assert all(not s.c_got for s in subs)
    dt = c_router.down_track("cam", "sub1")
    assert dt is not None and dt.native and dt.waiting_keyframe and dt.packets_dropped == 5
    feed(10, keyframe_first=True)
    compare(py_router, c_router, fw, subs)
    assert all(len(s.c_got) == 10 for s in subs)

    for r in (py_router, c_router):
        d = r.down_track("cam", "sub1")
        assert d is not None
        d.set_muted(True)
    feed(4)
    for r in (py_router, c_router):
        d = r.down_track("cam", "sub1")
        assert d is not None
        d.set_muted(False)
        assert d.waiting_keyframe  # resumes on a keyframe
    feed(3)
    feed(3, keyframe_first=True)
    compare(py_router, c_router, fw, subs)
    assert len(subs[1].c_got) == 13  # 10 + the 3 from the keyframe on; no hole to NACK
    seqs = [int.from_bytes(p[2:4], "big") for _, p in subs[1].c_got]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))

    # A subscriber that (re)connects starts over from a keyframe, in a new epoch.
    before = len(subs[2].c_got)
    for r in (py_router, c_router):
        r.start_receiving("cam", "sub2", now)
        d = r.down_track("cam", "sub2")
        assert d is not None and d.waiting_keyframe
    feed(3)
    compare(py_router, c_router, fw, subs)
    assert len(subs[2].c_got) == before
    feed(4, keyframe_first=True)
    compare(py_router, c_router, fw, subs)
    assert len(subs[2].c_got) == before + 4
    seqs = [int.from_bytes(p[2:4], "big") for _, p in subs[2].c_got]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))

    for r in (py_router, c_router):
        r.replace_up_track(
            "cam",
            kind="video",
            ssrc=0xBEEF,
            codecs=[(VP8, "video/VP8", 90_000, None)],
            ext_ids={"urn:example:ext": EXT_ID},
            publisher=Publisher(),
            publisher_key=PUB,
            now=now + 1.0,
        )
    seq, ts = 100, 12345
    feed(2, ssrc=0xBEEF)
    feed(5, keyframe_first=True, ssrc=0xBEEF)
    compare(py_router, c_router, fw, subs)


@needs_native
def test_sender_reports_count_native_packets(world: dict[str, Any]) -> None:
    py_router, c_router, fw, subs, ssrcs = build_pair(world, 21, 2)
    rng = random.Random(9)
    for i in range(300):
        packet = make_packet(rng, 1000 + i, 3000 * i, keyframe=i == 0)
        py_router.on_rtp(PUB, packet, i * 0.01)
        c_router.on_rtp(PUB, packet, i * 0.01)
    py_router.tick(10.0)
    c_router.tick(10.0)
    compare(py_router, c_router, fw, subs)
    # RFC 3550 §6.4.1: sender's packet count and octet count (payload octets) in the SR.
    for sub in subs:
        sr = next(p for _, p in reversed(sub.c_got) if p[1] == 200)
        dt = c_router.down_track("cam", sub.key)
        assert dt is not None
        assert int.from_bytes(sr[4:8], "big") == ssrcs[sub.key]
        assert int.from_bytes(sr[20:24], "big") == dt.packets_sent == 300
        assert int.from_bytes(sr[24:28], "big") == dt.octets_sent > 0


@needs_native
def test_send_errors_are_counted_and_do_not_stop_the_others(world: dict[str, Any]) -> None:
    assert lib is not None
    _, c_router, _fw, subs, _ = build_pair(world, 31, 3)
    bad = subs[0].c_peer
    bad.dest = ("::1", 9)  # an IPv6 destination on an IPv4 socket: sendmmsg refuses that one
    bad.set_connected(True)
    rng = random.Random(1)
    for i in range(20):
        c_router.on_rtp(PUB, make_packet(rng, 10 + i, 3000 * i, keyframe=i == 0), i * 0.01)
    for sub in subs[1:]:
        sub.drain()
        assert len(sub.c_got) == 20
    assert bad.stats.dropped_send_buffer == 20 and bad.stats.rtp_out == 0


@needs_native
def test_sink_change_moves_the_down_track_to_the_new_peer(world: dict[str, Any]) -> None:
    assert lib is not None
    _, c_router, _fw, subs, _ = build_pair(world, 41, 1)
    rng = random.Random(2)
    c_router.on_rtp(PUB, make_packet(rng, 1, 0, keyframe=True), 0.0)
    dt = c_router.down_track("cam", "sub0")
    assert dt is not None and dt.native
    newcomer = Subscriber(random.Random(7), 1)
    world["subs"].append(newcomer)
    dt.sink = newcomer.c_peer  # as RoomMedia does when the subscriber connection is replaced
    assert dt.native and dt.native_entry is not None  # attached to the new sender at once, not on the next packet
    c_router.on_rtp(PUB, make_packet(rng, 2, 3000, keyframe=False), 0.03)
    assert dt.native and dt.packets_sent == 2
    newcomer.drain()
    subs[0].drain()
    assert len(newcomer.c_got) == 1 and len(subs[0].c_got) == 1
    assert int.from_bytes(newcomer.c_got[0][1][2:4], "big") == (int.from_bytes(subs[0].c_got[0][1][2:4], "big") + 1)


def test_fallback_to_python_without_a_fanout() -> None:
    assert isinstance(make_forwarder(None), PythonForwarder)
    if lib is not None:
        assert isinstance(make_forwarder(NativeFanout(lib)), NativeForwarder)


@needs_native
def test_a_subscription_is_attached_when_it_starts_receiving(world: dict[str, Any]) -> None:
    """Setup happens on membership changes, never on the data path."""
    assert lib is not None
    router = Router(rng=random.Random(3), forwarder=NativeForwarder(NativeFanout(lib)))
    router.add_up_track(
        "cam",
        kind="video",
        ssrc=0xCAFE,
        codecs=[(VP8, "video/VP8", 90_000, None)],
        publisher=Publisher(),
        publisher_key=PUB,
    )
    sub = Subscriber(random.Random(4), 1)
    world["subs"].append(sub)
    dt = router.subscribe("cam", sub.key, sub.c_peer, ssrc=router.allocate_ssrc(), receiving=False)
    assert not dt.native
    rng = random.Random(5)
    router.on_rtp(PUB, make_packet(rng, 1, 0, keyframe=True), 0.0)  # forwarded in Python meanwhile
    assert not dt.native and dt.packets_sent == 1
    router.start_receiving("cam", sub.key, 0.01)
    assert dt.native and dt.waiting_keyframe
    for i in range(2, 6):
        router.on_rtp(PUB, make_packet(rng, i, 3000 * i, keyframe=i == 2), 0.01 * i)
    assert dt.packets_sent == 5 and sub.c_peer.stats.rtp_out == 5
    router.unsubscribe("cam", sub.key)
    assert not dt.native
    router.on_rtp(PUB, make_packet(rng, 6, 30_000, keyframe=False), 0.1)
    assert dt.packets_sent == 5  # gone from the group at once


_NO_EXTENSION = (
    "import logging, sys; logging.basicConfig(level=logging.WARNING)\n"
    "sys.modules['hubbub.transport.native._fanout'] = None  # as if it was never built\n"
    "from hubbub.transport import native\n"
    "from hubbub.transport.stats import PeerStats\n"
    "from hubbub.transport.sender import PythonSender, make_sender\n"
    "from hubbub.sfu.forwarder import PythonForwarder, make_forwarder\n"
    "assert native.load() is None and native.load() is None\n"
    "assert isinstance(make_sender(native.load(), PeerStats()), PythonSender)\n"
    "assert isinstance(make_forwarder(None), PythonForwarder)\n"
    "print(native.failure())\n"
)


def test_fallback_in_a_process_without_the_extension() -> None:
    done = subprocess.run([sys.executable, "-c", _NO_EXTENSION], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("not built")
    # Logged once, with the reason, however often it is asked for.
    assert done.stderr.count("native fan-out unavailable") == 1


@needs_native
def test_no_compiler_is_needed_at_run_time(tmp_path: Path) -> None:
    """The extension is built when the package is installed: it loads with no compiler on PATH."""
    code = "from hubbub.transport import native; m = native.load(); assert m is not None; print(m.aead_backend())"
    env = dict(os.environ, PATH=str(tmp_path))
    env.pop("CC", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("openssl", "libsrtp")


def test_settings_switch_native_fanout() -> None:
    """``HUBBUB_NATIVE_FANOUT=0`` (the ``native_fanout`` setting) forces the Python sender and forwarder."""
    import time

    from hubbub.config import load_settings
    from hubbub.proto.certificate import Certificate
    from hubbub.transport.server import RtcTransportServer

    assert load_settings(env={"HUBBUB_NATIVE_FANOUT": "0"}).native_fanout is False
    assert load_settings(env={}).native_fanout is True
    cert = Certificate.generate(time.time())
    assert RtcTransportServer(certificate=cert, native=False).fanout is None
    fanout = RtcTransportServer(certificate=cert, native=True).fanout
    assert (fanout is not None) == (lib is not None)
    expected = NativeForwarder if lib is not None else PythonForwarder
    assert isinstance(make_forwarder(fanout), expected)
