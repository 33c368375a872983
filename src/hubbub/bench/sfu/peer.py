"""One simulated peer connection of ``hubbub bench sfu`` and what it counts.

A :class:`SimPeer` is one UDP socket on 127.0.0.1. Against a WebRTC server it runs the real
protocols, cheaply: ICE as a controlling agent (STUN binding requests with USE-CANDIDATE built with
:mod:`hubbub.proto.stun`, and answers to the server's own checks when it is a full agent), DTLS
with :class:`~hubbub.proto.dtls.DtlsEndpoint` and SRTP with :class:`~hubbub.proto.srtp.SrtpSession`.
Against the kernel floor it sends plain RTP. Every packet it receives is unprotected and its
:data:`STAMP` read into the run's :class:`Meter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from hubbub.proto import sdp
from hubbub.proto.certificate import Certificate
from hubbub.proto.dtls import DtlsConnected, DtlsEndpoint, DtlsFailed
from hubbub.proto.rtcp import iter_rtcp_raw
from hubbub.proto.rtcp_feedback import RtcpParseError
from hubbub.proto.srtp import SrtpError, SrtpSession
from hubbub.proto.stun import StunAttr, StunClass, StunMessage, StunMethod, pack_xor_address

__all__ = ["STAMP", "STAMP_LEN", "Address", "Kind", "Meter", "SimPeer", "StreamSpec"]

STAMP = struct.Struct("!dII")  # send time (monotonic seconds), stream id, sequence
STAMP_LEN = STAMP.size

Kind = Literal["audio", "video"]
Address = tuple[str, int]


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

    def __init__(
        self, meter: Meter, certificate: Certificate, streams: Mapping[int, StreamSpec], *, secure: bool
    ) -> None:
        self.meter = meter
        self.certificate = certificate
        self.streams = streams  # every stream of the run: a stamp naming another one is foreign
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
            self.dtls = DtlsEndpoint(self.certificate, role, remote_fingerprints=list(fingerprints))

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
                if stream not in self.streams:
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
