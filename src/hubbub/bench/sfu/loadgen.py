"""The client side of ``hubbub bench sfu``: many simulated participants in one asyncio process.

Theory of operation
-------------------
Each simulated peer connection is one UDP socket on 127.0.0.1 (:class:`SimPeer`). Against a
WebRTC server it runs the real protocols, cheaply: ICE as a controlling agent (STUN binding
requests with USE-CANDIDATE built with :mod:`hubbub.proto.stun`, and answers to the server's
own checks when it is a full agent), DTLS with :class:`~hubbub.proto.dtls.DtlsEndpoint` and SRTP
with :class:`~hubbub.proto.srtp.SrtpSession`. Against the kernel floor it sends plain RTP.

Media is synthetic: pre-built payloads (100-byte Opus-like audio at 50 packets/s with the RFC
6464 audio-level extension; VP8-like video of 30 frames/s x 5 packets of 1200 bytes, about
1.4 Mbit/s, a key frame on start, on PLI/FIR and every few seconds). The last 16 bytes of every
payload are a stamp: send time (``time.monotonic``, which is CLOCK_MONOTONIC and so shared by
every process on the machine), stream id and sequence. Subscribers unprotect each packet (that
is the generator's main cost, reported as ``generator_cpu_pct``) and read the stamp, which gives
loss and one-way delay without decoding anything and without trusting the server's headers.

Counting: a packet belongs to the measurement window when its *stamp* lies inside it (loss and
delay: expected = packets each stream sent in the window x its subscribers) and, for the CPU
ratio, when it *arrives* inside the window (packets the server delivered while its CPU was
sampled). A *target* (:class:`Target`) knows how to start one server and to connect one
participant to it; :func:`run_scenario` does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

from hubbub.bench.sfu.report import CpuSample, ResultRow, percentile
from hubbub.proto import sdp
from hubbub.proto.certificate import Certificate
from hubbub.proto.dtls import DtlsConnected, DtlsEndpoint, DtlsFailed
from hubbub.proto.rtcp import iter_rtcp_raw
from hubbub.proto.rtcp_feedback import RtcpParseError
from hubbub.proto.srtp import SrtpError, SrtpSession
from hubbub.proto.stun import StunAttr, StunClass, StunMessage, StunMethod, pack_xor_address

__all__ = [
    "SCENARIOS",
    "LoadGen",
    "Scenario",
    "SimParticipant",
    "SimPeer",
    "StreamSpec",
    "Target",
    "answer_offer",
    "publisher_offer",
    "remote_transport",
    "run_scenario",
]

STAMP = struct.Struct("!dII")  # send time (monotonic seconds), stream id, sequence
STAMP_LEN = STAMP.size
AUDIO_PT, VIDEO_PT = 111, 96
AUDIO_LEVEL_ID = 1
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
VIDEO_FPS, PACKETS_PER_FRAME, VIDEO_PACKET = 30, 5, 1200
AUDIO_PPS, AUDIO_PACKET = 50, 100
KEYFRAME_INTERVAL = 5.0
CONSENT_INTERVAL = 2.0  # RFC 7675 §5.1: a check well within the 30 s consent timeout
PROTO = "UDP/TLS/RTP/SAVPF"

Kind = Literal["audio", "video"]
Address = tuple[str, int]


# --- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """``publishers`` participants publish ``kinds``; ``listeners`` more only subscribe.

    With ``publishers_subscribe`` every publisher also subscribes to every other one (a meeting).
    """

    name: str
    publishers: int
    kinds: tuple[Kind, ...]
    listeners: int
    publishers_subscribe: bool = False

    def participants(self) -> list[SimParticipant]:
        people = [
            SimParticipant(f"pub{i}", self.kinds, subscribes=self.publishers_subscribe) for i in range(self.publishers)
        ]
        people += [SimParticipant(f"sub{i}", (), subscribes=True) for i in range(self.listeners)]
        return people


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("audio-1x200", 1, ("audio",), 200),
        Scenario("video-1x50", 1, ("video",), 50),
        Scenario("meeting-6x6", 6, ("audio", "video"), 0, publishers_subscribe=True),
        # Small ones for smoke tests and quick looks:
        Scenario("audio-1x3", 1, ("audio",), 3),
        Scenario("video-1x3", 1, ("video",), 3),
        Scenario("meeting-2x2", 2, ("audio", "video"), 0, publishers_subscribe=True),
    )
}


@dataclass(slots=True)
class StreamSpec:
    """One published track of synthetic media."""

    stream_id: int
    kind: Kind
    ssrc: int
    cid: str  # the client's track id (``a=msid`` track id, ``publish.cid``)
    pt: int
    seq: int = 0
    ts: int = 0
    next_due: float = 0.0
    keyframe_wanted: bool = True
    next_keyframe: float = 0.0
    peer: SimPeer | None = None


@dataclass(slots=True, eq=False)
class SimParticipant:
    name: str
    kinds: tuple[Kind, ...]
    subscribes: bool
    streams: list[StreamSpec] = field(default_factory=list)
    publisher: SimPeer | None = None
    subscriber_peers: list[SimPeer] = field(default_factory=list)
    expected: set[int] = field(default_factory=set)  # stream ids this participant should receive
    handle: Any = None  # the target's own state for this participant


# --- measurement --------------------------------------------------------------------------------


class Meter:
    """Counters shared by every peer of one run (one event loop: no locking)."""

    def __init__(self) -> None:
        self.start = float("inf")  # the window, monotonic seconds: stamps in [start, end) count
        self.end = float("-inf")
        self.arrival_end = float("-inf")  # the arrival window ends when the CPU is sampled again
        self.sent_in_window: dict[int, int] = {}
        self.received_in_window = 0  # by stamp
        self.arrived_in_window = 0  # by arrival time
        self.delays: list[float] = []
        self.srtp_errors = 0
        self.rtcp_in = 0
        self.keyframe_requests = 0
        self.foreign = 0  # RTP without our stamp (padding probes, ...)


# --- one simulated peer connection -------------------------------------------------------------


class SimPeer(asyncio.DatagramProtocol):
    """One UDP socket acting as one WebRTC peer connection (or a plain RTP socket for the floor)."""

    def __init__(self, gen: LoadGen, *, secure: bool) -> None:
        self.gen = gen
        self.meter = gen.meter
        self.secure = secure
        self.ice_ufrag = secrets.token_hex(4)
        self.ice_pwd = secrets.token_hex(12)
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.remote: Address | None = None
        self.remote_ufrag = ""
        self.remote_pwd = ""
        self.dtls: DtlsEndpoint | None = None
        self.srtp: SrtpSession | None = None
        self.profile = ""
        self.ice_ok = False
        self.ice_role_controlling = True
        self._tie_breaker = secrets.token_bytes(8)
        self._changed = asyncio.Event()
        self._pending: set[bytes] = set()
        self.counts: dict[int, int] = {}  # stream id -> packets received (any time)
        self.video_streams: list[StreamSpec] = []  # what a PLI/FIR on this connection asks a keyframe of
        self.failure = ""

    # -- socket -----------------------------------------------------------------------------------

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Neither asyncio's nor uvloop's datagram transport subclasses asyncio.DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]
        if hasattr(transport, "max_size"):  # plain asyncio: see DESIGN.md, a 256 KiB buffer per datagram
            transport.max_size = 2048

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def candidate(self) -> sdp.Candidate:
        return sdp.Candidate("1", 1, "udp", 2130706431, "127.0.0.1", self.port, "host")

    # -- setup --------------------------------------------------------------------------------------

    def set_remote(
        self, addr: Address, ufrag: str, pwd: str, fingerprints: Sequence[tuple[str, str]], setup: str
    ) -> None:
        """The remote transport from its SDP; ``setup`` is *its* a=setup (RFC 8842 §5)."""
        self.remote = addr
        self.remote_ufrag, self.remote_pwd = ufrag, pwd
        if self.secure and self.dtls is None:
            role: Literal["client", "server"] = "server" if setup == "active" else "client"
            self.dtls = DtlsEndpoint(self.gen.certificate, role, remote_fingerprints=list(fingerprints))

    async def connect(self, timeout: float = 20.0) -> None:
        """ICE (we nominate), then DTLS until SRTP keys exist. Raises ``TimeoutError`` / ``RuntimeError``."""
        if not self.secure:
            return
        assert self.dtls is not None and self.remote is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.ice_ok:
            if loop.time() > deadline:
                raise TimeoutError("no ICE answer from the server")
            self.send_check()
            await self._wait(0.2)
        self.dtls.start(time.monotonic())
        self._flush_dtls()
        while self.srtp is None:
            if self.failure:
                raise RuntimeError(self.failure)
            if loop.time() > deadline:
                raise TimeoutError(f"DTLS did not finish (state {self.dtls.state.value})")
            timer = self.dtls.get_timer()
            now = time.monotonic()
            if timer is not None and timer <= now:
                self.dtls.handle_timer(now)
                self._flush_dtls()
                self._dtls_events()
                continue
            await self._wait(0.05 if timer is None else min(0.05, timer - now))

    async def _wait(self, seconds: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    def send_check(self, nominate: bool = True) -> None:
        """RFC 8445 §7.1.1: a binding request as the controlling agent (also the consent check)."""
        if self.transport is None or self.remote is None:
            return
        txid = secrets.token_bytes(12)
        attributes: list[tuple[int, bytes]] = [
            (StunAttr.USERNAME, f"{self.remote_ufrag}:{self.ice_ufrag}".encode()),
            (StunAttr.PRIORITY, struct.pack("!I", 1_845_501_695)),
            (StunAttr.ICE_CONTROLLING, self._tie_breaker),
        ]
        if nominate:
            attributes.append((StunAttr.USE_CANDIDATE, b""))
        message = StunMessage(StunMethod.BINDING, StunClass.REQUEST, txid, tuple(attributes))
        self._pending.add(txid)
        self.transport.sendto(message.encode(self.remote_pwd.encode(), fingerprint=True), self.remote)

    def _on_stun(self, data: bytes, addr: Address) -> None:
        try:
            msg = StunMessage.parse(data)
        except ValueError:
            return
        if msg.method != StunMethod.BINDING:
            return
        if msg.message_class == StunClass.SUCCESS and msg.transaction_id in self._pending:
            self._pending.discard(msg.transaction_id)
            if not self.ice_ok:
                self.ice_ok = True
                self._changed.set()
        elif msg.message_class == StunClass.REQUEST:
            # RFC 8445 §7.3: a full agent's check; answer so that it sees the pair succeed.
            if not msg.check_integrity(self.ice_pwd.encode()) or self.transport is None:
                return
            answer = StunMessage(
                StunMethod.BINDING,
                StunClass.SUCCESS,
                msg.transaction_id,
                ((StunAttr.XOR_MAPPED_ADDRESS, pack_xor_address(addr, msg.transaction_id)),),
            )
            self.transport.sendto(answer.encode(self.ice_pwd.encode(), fingerprint=True), addr)

    def _flush_dtls(self) -> None:
        assert self.dtls is not None
        if self.transport is None or self.remote is None:
            return
        for datagram in self.dtls.datagrams_to_send():
            self.transport.sendto(datagram, self.remote)

    def _dtls_events(self) -> None:
        assert self.dtls is not None
        while (event := self.dtls.next_event()) is not None:
            if isinstance(event, DtlsConnected):
                self.srtp = SrtpSession(event.srtp_profile, event.local_keys, event.remote_keys)
                self.profile = event.srtp_profile.name
            elif isinstance(event, DtlsFailed):
                self.failure = f"DTLS failed: {event.reason}"
            else:
                self.failure = f"DTLS closed: {event.reason}"
            self._changed.set()

    # -- media ----------------------------------------------------------------------------------------

    def send_rtp(self, packet: bytes) -> None:
        if self.srtp is not None:
            packet = self.srtp.protect_rtp(packet)
        elif self.secure:
            return
        assert self.transport is not None and self.remote is not None
        self.transport.sendto(packet, self.remote)

    def datagram_received(self, data: bytes, addr: Address) -> None:  # the generator's hot path
        first = data[0] if data else 0
        if 127 < first < 192:
            if 191 < data[1] < 224:  # RFC 5761 §4: RTCP
                self._on_rtcp(data)
                return
            if self.srtp is not None:
                try:
                    data = self.srtp.unprotect_rtp(data)
                except SrtpError:
                    self.meter.srtp_errors += 1
                    return
            elif self.secure:
                return
            n = len(data)
            if n < 12 + STAMP_LEN:
                self.meter.foreign += 1
                return
            sent, stream, _seq = STAMP.unpack_from(data, n - STAMP_LEN)
            now = time.monotonic()
            counts = self.counts
            if stream not in counts:
                if stream not in self.gen.streams:
                    self.meter.foreign += 1
                    return
                counts[stream] = 0
            counts[stream] += 1
            meter = self.meter
            if meter.start <= now < meter.arrival_end:
                meter.arrived_in_window += 1
            if meter.start <= sent < meter.end:
                meter.received_in_window += 1
                meter.delays.append(now - sent)
        elif first < 4:
            self._on_stun(data, addr)
        elif 19 < first < 64 and self.dtls is not None:
            self.dtls.receive_datagram(data, time.monotonic())
            self._flush_dtls()
            self._dtls_events()

    def _on_rtcp(self, data: bytes) -> None:
        self.meter.rtcp_in += 1
        if self.srtp is not None:
            try:
                data = self.srtp.unprotect_rtcp(data)
            except SrtpError:
                self.meter.srtp_errors += 1
                return
        elif self.secure:
            return
        if not self.video_streams:
            return
        # RFC 4585 §6.3.1 PLI (PSFB FMT 1) and RFC 5104 §4.3.1 FIR (PSFB FMT 4): send a key frame.
        try:
            for pt, fmt, _start, _end in iter_rtcp_raw(data):
                if pt == 206 and fmt in (1, 4):
                    self.meter.keyframe_requests += 1
                    for stream in self.video_streams:
                        stream.keyframe_wanted = True
        except RtcpParseError:
            pass

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP port unreachable after a server stops: nothing to do


# --- SDP -------------------------------------------------------------------------------------------


def _transport(media: sdp.MediaSection, peer: SimPeer, fingerprint: tuple[str, str], setup: str) -> None:
    media.ice_ufrag, media.ice_pwd = peer.ice_ufrag, peer.ice_pwd
    media.fingerprints = [sdp.Fingerprint(*fingerprint)]
    media.setup = setup
    media.rtcp_mux = True
    media.port = peer.port
    media.connection = sdp.Connection(address="127.0.0.1")
    media.candidates = [peer.candidate()]
    media.end_of_candidates = True


def _session(media: list[sdp.MediaSection]) -> sdp.SessionDescription:
    mids = [m.mid for m in media if m.port != 0 and m.mid is not None]
    return sdp.SessionDescription(
        origin=sdp.Origin(session_id=secrets.randbits(62), session_version=1),
        groups=[sdp.Group("BUNDLE", mids)] if mids else [],
        msid_semantic=sdp.MsidSemantic("WMS", ["*"]),
        media=media,
    )


def publisher_offer(
    peer: SimPeer, streams: Sequence[StreamSpec], fingerprint: tuple[str, str], label: str, setup: str = "actpass"
) -> str:
    """A sendonly offer, one m-line per stream, with ``a=ssrc`` and ``a=msid <label> <cid>``."""
    sections = []
    for index, stream in enumerate(streams):
        if stream.kind == "audio":
            codec = sdp.Codec(AUDIO_PT, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"})
            exts = [sdp.HeaderExtension(AUDIO_LEVEL_ID, AUDIO_LEVEL_URI)]
        else:
            codec = sdp.Codec(VIDEO_PT, "VP8", 90000, None, {}, ["goog-remb", "ccm fir", "nack", "nack pli"])
            exts = []
        media = sdp.MediaSection(stream.kind, 9, PROTO, [str(codec.pt)], mid=str(index), direction="sendonly")
        media.codecs = [codec]
        media.header_extensions = exts
        media.rtcp_rsize = True
        media.msids = [sdp.Msid(label, stream.cid)]
        media.ssrcs = [sdp.Ssrc(stream.ssrc, {"cname": label, "msid": f"{label} {stream.cid}"})]
        _transport(media, peer, fingerprint, setup)
        sections.append(media)
    return sdp.serialize(_session(sections))


def answer_offer(text: str, peer: SimPeer, fingerprint: tuple[str, str], setup: str = "active") -> str:
    """Answer a server's offer: every sendonly m-line recvonly with all its codecs, others rejected."""
    offer = sdp.parse(text)
    sections = []
    for off in offer.media:
        usable = off.port != 0 and off.kind in ("audio", "video") and off.direction in ("sendonly", "sendrecv")
        media = sdp.MediaSection(off.kind, 9, off.proto, list(off.formats), mid=off.mid)
        media.codecs = [
            sdp.Codec(c.pt, c.name, c.clock_rate, c.channels, dict(c.fmtp), list(c.rtcp_fb)) for c in off.codecs
        ]
        if not usable:
            media.port = 0
            media.direction = "inactive"
            media.rtcp_mux = off.rtcp_mux
            if off.kind == "application":
                media.codecs = []
                media.sctp_port = off.sctp_port
            sections.append(media)
            continue
        media.direction = "recvonly"
        media.header_extensions = [sdp.HeaderExtension(e.id, e.uri) for e in off.header_extensions]
        media.rtcp_rsize = off.rtcp_rsize
        _transport(media, peer, fingerprint, setup)
        sections.append(media)
    return sdp.serialize(_session(sections))


@dataclass(frozen=True, slots=True)
class RemoteTransport:
    address: Address
    ufrag: str
    pwd: str
    fingerprints: tuple[tuple[str, str], ...]
    setup: str
    ice_lite: bool


def remote_transport(text: str) -> RemoteTransport:
    """ICE/DTLS parameters and the first IPv4 UDP candidate of a server's offer or answer."""
    desc = sdp.parse(text)
    tagged = next((m for m in desc.media if m.port != 0), None)
    if tagged is None:
        raise ValueError("the description accepts no media")
    ufrag = tagged.ice_ufrag or desc.ice_ufrag
    pwd = tagged.ice_pwd or desc.ice_pwd
    fingerprints = tuple((f.algorithm, f.value) for f in (tagged.fingerprints or desc.fingerprints))
    candidates = [c for m in desc.media for c in m.candidates if c.transport.lower() == "udp" and ":" not in c.ip]
    if not ufrag or not pwd or not fingerprints:
        raise ValueError("the description lacks ICE credentials or a fingerprint")
    if not candidates:
        raise ValueError("the description offers no IPv4 UDP candidate")
    best = max(candidates, key=lambda c: (c.ip.startswith("127."), c.priority))
    return RemoteTransport(
        (best.ip, best.port), ufrag, pwd, fingerprints, tagged.setup or desc.setup or "actpass", desc.ice_lite
    )


# --- the generator ---------------------------------------------------------------------------------


def _filler(size: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(size))


class LoadGen:
    """All simulated participants of one run, their media pacer and their shared meter."""

    def __init__(self, *, secure: bool) -> None:
        self.secure = secure
        self.meter = Meter()
        self.certificate = Certificate.generate(time.time())
        self.fingerprint = ("sha-256", self.certificate.fingerprint("sha-256"))
        self.streams: dict[int, StreamSpec] = {}
        self.peers: list[SimPeer] = []
        self._ids = itertools.count(1)
        self._pacer: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._audio_body = _filler(AUDIO_PACKET - 12 - 8 - STAMP_LEN)
        self._video_body = _filler(VIDEO_PACKET - 12 - STAMP_LEN - 2)

    async def new_peer(self) -> SimPeer:
        peer = SimPeer(self, secure=self.secure)
        await peer.open()
        self.peers.append(peer)
        return peer

    def new_stream(self, kind: Kind, participant: SimParticipant) -> StreamSpec:
        stream_id = next(self._ids)
        stream = StreamSpec(
            stream_id,
            kind,
            ssrc=secrets.randbits(31) | 1,
            cid=f"{participant.name}-{kind}-{secrets.token_hex(3)}",
            pt=AUDIO_PT if kind == "audio" else VIDEO_PT,
            seq=secrets.randbits(15),
            ts=secrets.randbits(31),
        )
        self.streams[stream_id] = stream
        participant.streams.append(stream)
        return stream

    # -- media ----------------------------------------------------------------------------------

    def start_media(self) -> None:
        if self._pacer is None:
            self._pacer = asyncio.create_task(self._pace(), name="bench-pacer")
        if self._keepalive is None and self.secure:
            self._keepalive = asyncio.create_task(self._consent(), name="bench-consent")

    async def _pace(self) -> None:
        audio_gap, frame_gap = 1 / AUDIO_PPS, 1 / VIDEO_FPS
        now = time.monotonic()
        for stream in self.streams.values():
            stream.next_due = now
        while True:
            now = time.monotonic()
            soonest = now + 0.02
            for stream in list(self.streams.values()):
                if stream.peer is None:
                    continue
                if stream.next_due <= now:
                    if stream.kind == "audio":
                        self._send_audio(stream, now)
                        stream.next_due += audio_gap
                    else:
                        self._send_video(stream, now)
                        stream.next_due += frame_gap
                    if stream.next_due < now - 0.2:  # fell far behind (a stall): do not burst to catch up
                        stream.next_due = now
                soonest = min(soonest, stream.next_due)
            await asyncio.sleep(max(0.0, soonest - time.monotonic()))

    def _count_sent(self, stream: StreamSpec, now: float) -> None:
        meter = self.meter
        if meter.start <= now < meter.end:
            meter.sent_in_window[stream.stream_id] = meter.sent_in_window.get(stream.stream_id, 0) + 1

    def _send_audio(self, stream: StreamSpec, now: float) -> None:
        assert stream.peer is not None
        stream.seq = (stream.seq + 1) & 0xFFFF
        stream.ts = (stream.ts + 960) & 0xFFFFFFFF
        # RFC 3550 §5.1 header with X=1; RFC 8285 §4.2 one-byte extension: RFC 6464 audio level.
        header = struct.pack("!BBHII", 0x90, stream.pt, stream.seq, stream.ts, stream.ssrc)
        ext = struct.pack("!HHBBH", 0xBEDE, 1, AUDIO_LEVEL_ID << 4, 0x80 | 30, 0)
        stream.peer.send_rtp(header + ext + self._audio_body + STAMP.pack(now, stream.stream_id, stream.seq))
        self._count_sent(stream, now)

    def _send_video(self, stream: StreamSpec, now: float) -> None:
        peer = stream.peer
        assert peer is not None
        key = stream.keyframe_wanted or now >= stream.next_keyframe
        if key:
            stream.keyframe_wanted = False
            stream.next_keyframe = now + KEYFRAME_INTERVAL
        stream.ts = (stream.ts + 90000 // VIDEO_FPS) & 0xFFFFFFFF
        for i in range(PACKETS_PER_FRAME):
            stream.seq = (stream.seq + 1) & 0xFFFF
            marker = 0x80 if i == PACKETS_PER_FRAME - 1 else 0
            header = struct.pack("!BBHII", 0x80, marker | stream.pt, stream.seq, stream.ts, stream.ssrc)
            # RFC 7741 §4.2 descriptor (S=1 on a frame's first packet) and §4.3 P bit (0: key frame).
            descriptor = (b"\x10" + (b"\x00" if key else b"\x01")) if i == 0 else b"\x00\x00"
            peer.send_rtp(header + descriptor + self._video_body + STAMP.pack(now, stream.stream_id, stream.seq))
            self._count_sent(stream, now)

    async def _consent(self) -> None:
        while True:
            await asyncio.sleep(CONSENT_INTERVAL)
            for peer in self.peers:
                if peer.ice_ok:
                    peer.send_check()

    async def stop(self) -> None:
        for task in (self._pacer, self._keepalive):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._pacer = self._keepalive = None
        for peer in self.peers:
            peer.close()


# --- targets and the run ------------------------------------------------------------------------


class Target(Protocol):
    """A server under test: started per scenario, one process whose CPU is measured."""

    name: str
    secure: bool  # WebRTC (ICE/DTLS/SRTP) or plain RTP

    @property
    def pid(self) -> int: ...

    async def start(self) -> None: ...

    async def join(self, gen: LoadGen, participant: SimParticipant) -> None:
        """Connect one participant: publish its streams and/or subscribe, up to connected peers."""
        ...

    async def all_joined(self, gen: LoadGen, participants: Sequence[SimParticipant]) -> None: ...

    def details(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


async def _join_all(
    target: Target, gen: LoadGen, people: Sequence[SimParticipant], concurrency: int, log: Callable[[str], None]
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(p: SimParticipant) -> None:
        async with gate:
            await target.join(gen, p)

    await asyncio.gather(*(one(p) for p in people))


def _missing(people: Sequence[SimParticipant]) -> int:
    """Subscriptions (participant, stream) that have not delivered a packet yet."""
    missing = 0
    for p in people:
        got: set[int] = set()
        for peer in p.subscriber_peers:
            got.update(s for s, n in peer.counts.items() if n)
        missing += len(p.expected - got)
    return missing


async def run_scenario(
    target: Target,
    scenario: Scenario,
    *,
    duration: float = 10.0,
    warmup: float = 2.0,
    setup_timeout: float = 60.0,
    concurrency: int = 16,
    log: Callable[[str], None] = lambda _msg: None,
) -> ResultRow:
    """Start the target, connect everyone, measure ``duration`` seconds, stop the target."""
    gen = LoadGen(secure=target.secure)
    people = scenario.participants()
    for p in people:
        for kind in p.kinds:
            gen.new_stream(kind, p)
    all_streams = {s.stream_id for p in people for s in p.streams}
    for p in people:
        if p.subscribes:
            p.expected = all_streams - {s.stream_id for s in p.streams}
    await target.start()
    try:
        setup_started = time.monotonic()
        publishers = [p for p in people if p.kinds]
        listeners = [p for p in people if not p.kinds]
        await asyncio.wait_for(_join_all(target, gen, publishers, concurrency, log), setup_timeout)
        gen.start_media()
        await asyncio.wait_for(_join_all(target, gen, listeners, concurrency, log), setup_timeout)
        await asyncio.wait_for(target.all_joined(gen, people), setup_timeout)
        gen.start_media()
        limit = time.monotonic() + setup_timeout
        while _missing(people) and time.monotonic() < limit:
            await asyncio.sleep(0.1)
        missing = _missing(people)
        setup_s = time.monotonic() - setup_started
        log(f"{scenario.name} on {target.name}: connected in {setup_s:.1f} s, {missing} subscriptions silent")
        await asyncio.sleep(warmup)

        meter = gen.meter
        me = os.getpid()
        start = time.monotonic()
        server0, self0 = CpuSample.take(target.pid, start), CpuSample.take(me, start)
        meter.start = start
        meter.end = start + duration
        meter.arrival_end = float("inf")  # closed below, at the moment the CPU is sampled again
        await asyncio.sleep(duration)
        end = time.monotonic()
        server1, self1 = CpuSample.take(target.pid, end), CpuSample.take(me, end)
        meter.arrival_end = end  # packets delivered while the server's CPU was being counted
        await asyncio.sleep(0.5)  # packets stamped inside the window still in flight
        await gen.stop()

        wall = end - start
        expected = sum(meter.sent_in_window.get(s, 0) for p in people if p.subscribes for s in p.expected)
        received = meter.received_in_window
        delivered = meter.arrived_in_window
        server_cpu = server1.since(server0)
        delays = meter.delays
        details: dict[str, Any] = {
            "duration_s": round(wall, 3),
            "setup_s": round(setup_s, 2),
            "participants": len(people),
            "streams": len(all_streams),
            "subscriptions": sum(len(p.expected) for p in people),
            "silent_subscriptions": missing,
            "packets_in_per_s": round(sum(meter.sent_in_window.values()) / duration, 1),
            "packets_delivered": delivered,
            "packets_expected": expected,
            "server_cpu_s": round(server_cpu, 3),
            "server_cpu_pct": round(100 * server_cpu / wall, 1),
            "generator_cpu_s": round(self1.since(self0), 3),
            "srtp_errors": meter.srtp_errors,
            "keyframe_requests": meter.keyframe_requests,
            "srtp_profile": sorted({p.profile for p in gen.peers if p.profile}),
        }
        details.update(target.details())
        return ResultRow(
            scenario=scenario.name,
            server=target.name,
            cpu_us_per_packet=(server_cpu / delivered * 1e6) if delivered else float("nan"),
            packets_per_s=delivered / wall,
            loss_pct=(100.0 * (1 - received / expected)) if expected else float("nan"),
            delay_p50_ms=percentile(delays, 0.5) * 1000,
            delay_p99_ms=percentile(delays, 0.99) * 1000,
            generator_cpu_pct=100 * self1.since(self0) / wall,
            details=details,
        )
    finally:
        await gen.stop()
        await target.stop()
