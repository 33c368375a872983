"""Every payload type a publisher answer accepts reaches subscribers, for every codec.

An aiortc publisher offers one codec set (Opus, VP8, either H.264 profile, both, aiortc's
defaults); for each media payload type the server's answer accepts, a fresh publisher is forced
onto it (``setCodecPreferences`` before the answer is applied, which RFC 3264 §7 allows: the
offerer may send with any format the answer lists) and an aiortc subscriber must decode that
track. Where the answer accepts RTX, the publisher then sends its video only as RTX for a while
and the subscriber must keep decoding.
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websockets
from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtcrtpsender import RTCRtpSender
from av import AudioFrame

from hubbub.proto import sdp
from hubbub.sdk import FrameCounterTrack, ToneTrack, connect, detect_tone, read_frame_counter
from hubbub.sdk.loopback import allow_loopback_candidates

Pick = Callable[[RTCRtpCodecCapability], bool]


def _h264(profile: str) -> Pick:
    return lambda c: c.mimeType == "video/H264" and c.parameters.get("profile-level-id") == profile


CASES: dict[str, tuple[str, list[Pick] | None]] = {
    "opus": ("audio", [lambda c: c.mimeType == "audio/opus"]),
    "vp8": ("video", [lambda c: c.mimeType == "video/VP8"]),
    "h264-42001f": ("video", [_h264("42001f")]),
    "h264-42e01f": ("video", [_h264("42e01f")]),
    "h264-both-profiles": ("video", [_h264("42001f"), _h264("42e01f")]),  # aiortc's own H.264 offer
    "aiortc-defaults": ("video", None),  # VP8, then both H.264 profiles, each with RTX
}


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with allow_loopback_candidates():
        yield


def _capabilities(kind: str, picks: list[Pick] | None) -> list[RTCRtpCodecCapability]:
    caps = RTCRtpSender.getCapabilities(kind).codecs
    if picks is None:
        return list(caps)
    chosen = [c for pick in picks for c in caps if pick(c)]
    assert len(chosen) == len(picks)
    return chosen + [c for c in caps if c.mimeType.endswith("/rtx")]


def _capability_for(kind: str, codec: sdp.Codec) -> RTCRtpCodecCapability:
    """aiortc's capability for a codec of the answer (H.264 told apart by profile-level-id)."""
    for cap in RTCRtpSender.getCapabilities(kind).codecs:
        if cap.mimeType.lower() != f"{kind}/{codec.name}".lower():
            continue
        if codec.name.lower() == "h264" and cap.parameters.get("profile-level-id") != codec.fmtp["profile-level-id"]:
            continue
        return cap
    raise AssertionError(f"aiortc has no codec like {codec}")


async def _reply(ws: Any, re: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("re") == re:
                return dict(frame)


class Publisher:
    """A raw-signaling aiortc publisher of one track with a chosen codec set in its offer."""

    def __init__(self, ws: Any, pc: RTCPeerConnection, transceiver: RTCRtpTransceiver, track: Any) -> None:
        self.ws, self.pc, self.transceiver, self.track = ws, pc, transceiver, track
        self.answer: sdp.MediaSection | None = None
        self.answer_sdp = ""

    @classmethod
    async def offer(cls, live: Any, identity: str, kind: str, caps: list[RTCRtpCodecCapability]) -> Publisher:
        ws = await websockets.connect(live.url.replace("http", "ws", 1) + "/rtc/v1", max_size=2**22)
        await ws.send(json.dumps({"type": "join", "id": "j", "token": live.token(identity)}))
        assert (await _reply(ws, "j"))["type"] == "joined"
        pc = RTCPeerConnection()
        track = ToneTrack(440) if kind == "audio" else FrameCounterTrack(320, 240, 15)
        transceiver = pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(caps)
        publisher = cls(ws, pc, transceiver, track)
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "id": "o", "sdp": pc.localDescription.sdp}))
        reply = await _reply(ws, "o")
        assert reply["type"] == "answer", reply
        publisher.answer_sdp = reply["sdp"]
        publisher.answer = sdp.parse(reply["sdp"]).media[0]
        return publisher

    def accepted(self) -> tuple[list[sdp.Codec], dict[int, int]]:
        """Media codecs the answer accepts, and media PT -> RTX PT."""
        assert self.answer is not None and self.answer.port != 0
        media = [c for c in self.answer.codecs if c.name.lower() != "rtx"]
        rtx = {int(c.fmtp["apt"]): c.pt for c in self.answer.codecs if c.name.lower() == "rtx"}
        return media, rtx

    async def send_on(self, kind: str, codec: sdp.Codec) -> None:
        """Apply the answer with ``codec`` first, so that aiortc sends with it."""
        caps = [_capability_for(kind, codec)] + [
            c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.endswith("/rtx")
        ]
        self.transceiver.setCodecPreferences(caps)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.answer_sdp, type="answer"))
        assert self.transceiver._codecs[0].payloadType == codec.pt

    async def close(self) -> None:
        await self.pc.close()
        await self.ws.close()


def _rtx_only(publisher: Publisher, rtx_pt: int) -> Callable[[bool], None]:
    """From the switch on, the publisher sends each video packet only as RTX (RFC 4588 §4:
    the RTX SSRC and payload type, its own sequence number, the original one in front of the
    payload). Returns the switch."""
    sender = publisher.transceiver.sender
    dtls = sender.transport
    send = dtls._send_rtp
    media_ssrc, rtx_ssrc = sender._ssrc, sender._rtx_ssrc
    state = {"on": False, "seq": 1000}

    async def patched(data: bytes) -> None:
        media = len(data) >= 12 and 96 <= data[1] & 0x7F <= 127 and struct.unpack_from("!I", data, 8)[0] == media_ssrc
        if state["on"] and media:
            hlen = 12 + 4 * (data[0] & 0x0F)
            if data[0] & 0x10:
                hlen += 4 + 4 * struct.unpack_from("!H", data, hlen + 2)[0]
            state["seq"] = (state["seq"] + 1) & 0xFFFF
            header = bytearray(data[:hlen])
            header[1] = (data[1] & 0x80) | rtx_pt
            struct.pack_into("!H", header, 2, state["seq"])  # the timestamp stays
            struct.pack_into("!I", header, 8, rtx_ssrc)
            data = bytes(header) + data[2:4] + data[hlen:]
        await send(data)

    dtls._send_rtp = patched  # type: ignore[method-assign]  # wraps aiortc's private send on this one instance

    def switch(on: bool) -> None:
        state["on"] = on

    return switch


async def _frames_decoded(track: Any, count: int, after: int = -1, timeout: float = 20.0) -> list[int]:
    """Counters of the next ``count`` readable frames of a FrameCounterTrack numbered above ``after``."""
    counters: list[int] = []
    async with asyncio.timeout(timeout):
        while len(counters) < count:
            value = read_frame_counter(await track.recv())
            if value is not None and value > after:
                counters.append(value)
    return counters


@pytest.mark.parametrize("case", list(CASES))
async def test_every_accepted_payload_type_reaches_a_subscriber(live: Any, case: str) -> None:
    kind, picks = CASES[case]
    caps = _capabilities(kind, picks)
    subscriber = await connect(live.url, live.token("sub"))
    first = await Publisher.offer(live, "probe", kind, caps)
    media, rtx = first.accepted()
    await first.close()
    assert media, "the answer accepts no codec"
    try:
        for index, codec in enumerate(media):
            identity = f"pub{index}"
            publisher = await Publisher.offer(live, identity, kind, caps)
            try:
                assert publisher.accepted() == (media, rtx)  # answers are deterministic
                await publisher.send_on(kind, codec)
                switch = _rtx_only(publisher, rtx[codec.pt]) if codec.pt in rtx else None
                track = await subscriber.wait_for_track(identity, kind=kind, timeout=15)
                room = next(iter(live.platform.rooms.rooms.values()))
                owner = next(p for p in room.participants.values() if p.identity == identity)
                (pub,) = owner.publications.values()
                up = live.platform.rooms.media_of(room).router.up_track(pub.sid)
                assert up is not None and codec.pt in up.codecs
                if codec.pt in rtx:
                    assert up.media_pt_for_rtx(rtx[codec.pt]) == codec.pt
                if kind == "audio":
                    frames = [await asyncio.wait_for(track.recv(), 10) for _ in range(50)]
                    heard = [f for f in frames if isinstance(f, AudioFrame)]
                    assert len(heard) == 50 and detect_tone(heard, 440) > 0.5, f"{codec.name}/{codec.pt}: no tone"
                    continue
                counters = await _frames_decoded(track, 10)
                assert counters == sorted(counters) and len(set(counters)) >= 8, (codec, counters)
                if switch is not None:
                    before, sent = up.rtx_packets, publisher.track.counter
                    switch(True)
                    later = await _frames_decoded(track, 10, after=sent)  # sent only as RTX
                    switch(False)
                    assert later == sorted(later), (codec, later)
                    assert up.rtx_packets - before >= 10, "the frames did not come as RTX"
            finally:
                await publisher.close()
    finally:
        await subscriber.disconnect()
