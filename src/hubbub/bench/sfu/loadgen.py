"""The client side of ``hubbub bench sfu``: many simulated participants in one asyncio process.

Theory of operation
-------------------
Each simulated peer connection is one UDP socket on 127.0.0.1 (:class:`~.peer.SimPeer`). Against
a WebRTC server it runs the real protocols, cheaply: ICE, DTLS and SRTP; against the kernel floor
it sends plain RTP. Its SDP is built and read by :mod:`.offer`.

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
sampled). A *target* (:class:`.run.Target`) knows how to start one server and to connect one
participant to it; :func:`.run.run_scenario` does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from hubbub.bench.sfu.offer import AUDIO_LEVEL_ID, AUDIO_PT, VIDEO_PT
from hubbub.bench.sfu.peer import STAMP, STAMP_LEN, Kind, Meter, SimPeer, StreamSpec
from hubbub.proto.certificate import Certificate

__all__ = ["SCENARIOS", "LoadGen", "Scenario", "SimParticipant"]

VIDEO_FPS, PACKETS_PER_FRAME, VIDEO_PACKET = 30, 5, 1200
AUDIO_PPS, AUDIO_PACKET = 50, 100
KEYFRAME_INTERVAL = 5.0
CONSENT_INTERVAL = 2.0  # RFC 7675 §5.1: a check well within the 30 s consent timeout


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
        peer = SimPeer(self.meter, self.certificate, self.streams, secure=self.secure)
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
