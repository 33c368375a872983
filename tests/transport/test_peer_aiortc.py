"""A real aiortc peer connection against the transport over loopback: ICE, DTLS, SRTP, echo.

aioice gathers only non-loopback host addresses; its checks from those reach a server bound on
127.0.0.1 on Linux, which answers them as peer-reflexive sources (RFC 8445 §7.3.1.3).
The helpers here are shared with the other transport tests.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack
from av import AudioFrame

from hubbub.proto import sdp
from hubbub.proto.certificate import Certificate
from hubbub.proto.sdp_negotiation import transport_parameters
from hubbub.sfu.negotiation import answer_publisher_offer
from hubbub.transport import PeerState, PeerTransport, RtcTransportServer

TONE_HZ = 440
SAMPLE_RATE = 8000
SAMPLES = 160  # 20 ms, as aiortc's AudioStreamTrack
ECHO_SSRC = 0x0EC0EC00


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone, paced like aiortc's silent track."""

    def __init__(self) -> None:
        super().__init__()
        self._phase = 0
        self._start_at = 0.0
        self._pts = -1

    async def recv(self) -> AudioFrame:
        if self._pts < 0:
            self._start_at, self._pts = time.time(), 0
        else:
            self._pts += SAMPLES
            await asyncio.sleep(self._start_at + self._pts / SAMPLE_RATE - time.time())
        samples = array.array(
            "h",
            (int(12000 * math.sin(2 * math.pi * TONE_HZ * (self._pts + i) / SAMPLE_RATE)) for i in range(SAMPLES)),
        )
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        return frame


@dataclass
class Recorder:
    """A ``PeerHandler`` that keeps what arrives and can echo RTP back under another SSRC."""

    echo: bool = False
    rtp: list[bytes] = field(default_factory=list)
    rtcp: list[bytes] = field(default_factory=list)
    states: list[PeerState] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_rtp(self, peer: PeerTransport, packet: bytes) -> None:
        self.rtp.append(packet)
        if self.echo:
            out = bytearray(packet)
            struct.pack_into("!I", out, 8, ECHO_SSRC)  # RFC 3550 §5.1: a new source for the echo
            peer.send_rtp(bytes(out))

    def on_rtcp(self, peer: PeerTransport, packet: bytes) -> None:
        self.rtcp.append(packet)

    def on_state(self, peer: PeerTransport, state: PeerState) -> None:
        self.states.append(state)
        self.changed.set()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@dataclass
class Call:
    pc: RTCPeerConnection
    peer: PeerTransport
    handler: Recorder
    offer: sdp.SessionDescription
    ssrc: int
    opus_pt: int

    def remote_track(self) -> MediaStreamTrack:
        return self.pc.getTransceivers()[0].receiver.track


async def start_call(server: RtcTransportServer, handler: Recorder, *, sendrecv: bool = False) -> Call:
    """aiortc offers audio; the answer comes from ``answer_publisher_offer`` with the server's transport."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN server: loopback only
    pc.addTransceiver(ToneTrack(), direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    offer = sdp.parse(pc.localDescription.sdp)
    remote = transport_parameters(offer)
    peer = server.create_peer(
        handler,
        remote_ufrag=remote.ice_ufrag,
        remote_pwd=remote.ice_pwd,
        remote_fingerprints=[(f.algorithm, f.value) for f in remote.fingerprints],
    )
    answer, _ = answer_publisher_offer(
        offer,
        ice_ufrag=peer.ice_ufrag,
        ice_pwd=peer.ice_pwd,
        fingerprint=peer.fingerprint,
        candidates=server.local_candidates(peer.ice_ufrag),
    )
    if sendrecv:  # the SFU answers recvonly; the echo path needs the server to send too
        for media in answer.media:
            media.direction = "sendrecv"
    await pc.setRemoteDescription(RTCSessionDescription(sdp.serialize(answer), "answer"))
    audio = offer.media[0]
    opus = next(c for c in audio.codecs if c.mime_type == "opus")
    return Call(pc, peer, handler, offer, audio.ssrcs[0].ssrc, opus.pt)


@pytest.fixture
async def server() -> AsyncIterator[RtcTransportServer]:
    async with RtcTransportServer(certificate=Certificate.generate(time.time()), host="127.0.0.1", udp_port=0) as srv:
        yield srv


def rtp_header(packet: bytes) -> tuple[int, int]:
    """(payload type, SSRC) of a plain RTP packet."""
    return packet[1] & 0x7F, struct.unpack_from("!I", packet, 8)[0]


async def test_aiortc_connects_and_media_flows_both_ways(server: RtcTransportServer) -> None:
    handler = Recorder(echo=True)
    call = await start_call(server, handler, sendrecv=True)
    try:
        await wait_for(lambda: call.peer.state is PeerState.CONNECTED)
        assert handler.states[:2] == [PeerState.CONNECTING, PeerState.CONNECTED]
        assert call.peer.selected_address is not None
        # aiortc offers AES-256-GCM, AES-128-GCM and AES-CM; the server prefers AES-128-GCM.
        assert call.peer.srtp_profile == "SRTP_AEAD_AES_128_GCM"

        await wait_for(lambda: len(handler.rtp) >= 10)
        for packet in handler.rtp[:10]:
            assert rtp_header(packet) == (call.opus_pt, call.ssrc)
        # RTCP (aiortc's SR/RR) arrives decrypted: version 2, a packet type in 200..206.
        await wait_for(lambda: bool(handler.rtcp), timeout=4.0)
        assert handler.rtcp[0][0] >> 6 == 2 and 200 <= handler.rtcp[0][1] <= 206

        # Echo: what the server sent back is decoded by aiortc as audio with the tone's energy.
        track = call.remote_track()
        loudest = 0
        for _ in range(25):
            frame = await asyncio.wait_for(track.recv(), 5.0)
            assert isinstance(frame, AudioFrame)
            pcm = array.array("h", bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)])
            loudest = max(loudest, max(abs(s) for s in pcm))
        assert loudest > 3000
        assert call.peer.stats.rtp_out > 0 and call.peer.stats.srtp_failures == 0
        assert server.stats["srtp_auth_failures"] == 0
    finally:
        await call.pc.close()
    # aiortc's DTLS close_notify closes the server side too (RFC 5246 §7.2.1).
    await wait_for(lambda: call.peer.state is PeerState.CLOSED)
    assert server.peer_for_ufrag(call.peer.ice_ufrag) is None


async def test_aes_cm_fallback(server: RtcTransportServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that offers only SRTP_AES128_CM_SHA1_80 (RFC 5764 §4.1.2) still connects."""
    import aiortc.rtcdtlstransport as dtls_module

    monkeypatch.setattr(dtls_module, "SRTP_PROFILES", [dtls_module.SRTP_AES128_CM_SHA1_80])
    handler = Recorder()
    call = await start_call(server, handler)
    try:
        await wait_for(lambda: call.peer.state is PeerState.CONNECTED)
        assert call.peer.srtp_profile == "SRTP_AES128_CM_SHA1_80"
        await wait_for(lambda: len(handler.rtp) >= 5)
        assert rtp_header(handler.rtp[0]) == (call.opus_pt, call.ssrc)
    finally:
        await call.pc.close()
