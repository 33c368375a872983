"""The two peer connections of a room and the offer/answer exchanges on them.

- The **publisher** connection, where this client offers. A track is announced first
  (``publish {cid, kind, source}``; ``cid`` is the track's ``MediaStreamTrack.id``, the id aiortc
  writes into the offer's ``a=msid``) and confirmed by ``track_published`` with the server's track
  sid; then it is added to the connection and the connection renegotiated (``offer`` ->
  ``answer``). One renegotiation runs at a time (:attr:`Negotiation.lock`).
- The **subscriber** connection, where the server offers whenever this client's subscriptions
  change; the client answers. Each remote ``a=msid`` is ``<participant_sid> <track_sid>``, which
  is how an aiortc ``track`` event is tied to a participant and a publication (``on_track``).

Each remote description passes through :func:`hubbub.sdk.lab.through_relay` first when the room
was given a ``media_relay`` (a lab option: all of this client's media goes through that relay).

A muted track keeps its sender (and its ``a=msid``) but sends a stand-in: silence or black frames.
aiortc 1.16 has no ``removeTrack``: an unpublished track's m-line goes inactive instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack

from hubbub.schema import signaling as proto
from hubbub.sdk.lab import MediaRelay, through_relay
from hubbub.sdk.media import stand_in_track
from hubbub.sdk.records import LocalPublication
from hubbub.sdk.signaling import SignalingClient

__all__ = ["Negotiation", "Outgoing", "PeerConnectionFactory", "msid_by_mid"]

PeerConnectionFactory = Callable[[RTCConfiguration], RTCPeerConnection]
"""Makes a peer connection (``RTCPeerConnection`` by default; tests pass a fake)."""

OnTrack = Callable[[str, str, str, MediaStreamTrack], None]
"""``(participant_sid, track_sid, mid, track)`` for each remote track that arrives."""


@dataclass(slots=True)
class Outgoing:
    """A local publication and, while the publisher connection is up, its sender."""

    publication: LocalPublication
    sender: RTCRtpSender | None = None
    transceiver: RTCRtpTransceiver | None = None


class Negotiation:
    """The publisher and subscriber connections of one room (see the module docstring).

    ``on_track`` gets each remote track; ``on_failed`` names a connection (``"publisher"`` or
    ``"subscriber"``) that failed, so the room can reconnect. ``media_relay`` moves the server's
    candidates in every remote description to that relay (:mod:`hubbub.sdk.lab`).
    """

    def __init__(
        self,
        signal: SignalingClient,
        *,
        peer_connection: PeerConnectionFactory,
        on_track: OnTrack,
        on_failed: Callable[[str], None],
        media_relay: MediaRelay | None = None,
    ) -> None:
        self._signal = signal
        self._media_relay = media_relay
        self._peer_connection = peer_connection
        self._on_track = on_track
        self._on_failed = on_failed
        self.ice_servers: list[RTCIceServer] = []
        self.outgoing: dict[str, Outgoing] = {}
        """Local publications by cid."""
        self.lock = asyncio.Lock()
        """Held while the publisher connection changes and renegotiates."""
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None

    def _new_peer_connection(self, which: str) -> RTCPeerConnection:
        # An empty list, not None: aiortc would otherwise add a public STUN server, which stalls
        # candidate gathering on machines without internet access.
        pc = self._peer_connection(RTCConfiguration(iceServers=list(self.ice_servers)))
        pc.add_listener("connectionstatechange", lambda: self._state_changed(pc, which))
        return pc

    def _remote_description(self, sdp: str, kind: str) -> RTCSessionDescription:
        if self._media_relay is not None:
            sdp = through_relay(sdp, self._media_relay)
        return RTCSessionDescription(sdp=sdp, type=kind)

    def _state_changed(self, pc: RTCPeerConnection, which: str) -> None:
        if pc.connectionState == "failed" and pc in (self.publisher, self.subscriber):
            self._on_failed(f"{which} connection failed")

    # --- subscriber connection ----------------------------------------------------------------

    async def answer(self, sdp: str) -> None:
        """Answer the server's offer on the subscriber connection (made on the first offer)."""
        pc = self.subscriber
        if pc is None:
            pc = self.subscriber = self._new_peer_connection("subscriber")
            pc.add_listener("track", lambda track: self._remote_track(pc, track))
        await pc.setRemoteDescription(self._remote_description(sdp, "offer"))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        await self._signal.send(proto.Answer(sdp=pc.localDescription.sdp))

    def _remote_track(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
        # aiortc's "track" event carries the track alone; its transceiver gives the mid.
        mid = next((t.mid or "" for t in pc.getTransceivers() if t.receiver.track is track), "")
        msids = msid_by_mid(pc.remoteDescription.sdp if pc.remoteDescription else "")
        participant_sid, track_sid = msids.get(mid, ("", track.id))
        self._on_track(participant_sid, track_sid, mid, track)

    # --- publisher connection -----------------------------------------------------------------

    async def announce(self, pub: LocalPublication) -> None:
        """``publish`` the track and take the server's sid for it from ``track_published``."""
        reply = await self._signal.request(
            proto.Publish(
                cid=pub.cid,
                kind=proto.TrackKind(pub.kind),
                source=proto.TrackSource(pub.source),
                name=pub.name,
                muted=pub.muted,
                width=int(getattr(pub.track, "width", 0) or 0),
                height=int(getattr(pub.track, "height", 0) or 0),
            ),
            reply=lambda m: isinstance(m, proto.TrackPublished) and m.cid == pub.cid,
        )
        assert isinstance(reply, proto.TrackPublished)
        pub.track_sid = reply.track.sid

    def attach(self, out: Outgoing) -> None:
        """Add the publication to the publisher connection (made on first use). Hold :attr:`lock`."""
        if self.publisher is None:
            self.publisher = self._new_peer_connection("publisher")
        pub = out.publication
        sending = stand_in_track(pub.kind, pub.cid, pub.track) if pub.muted else pub.track
        out.transceiver = self.publisher.addTransceiver(sending, direction="sendonly")
        out.sender = out.transceiver.sender

    async def negotiate(self) -> None:
        """Offer the publisher connection as it is now and apply the answer. Hold :attr:`lock`."""
        pc = self.publisher
        if pc is None:
            return
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        reply = await self._signal.request(
            proto.Offer(sdp=pc.localDescription.sdp), reply=lambda m: isinstance(m, proto.Answer)
        )
        assert isinstance(reply, proto.Answer)
        await pc.setRemoteDescription(self._remote_description(reply.sdp, "answer"))

    @staticmethod
    def send_muted(out: Outgoing, muted: bool) -> None:
        """Send a stand-in (``muted``) or the track itself, keeping the sender and its msid."""
        if out.sender is not None:
            pub = out.publication
            out.sender.replaceTrack(stand_in_track(pub.kind, pub.cid, pub.track) if muted else pub.track)

    async def detach(self, out: Outgoing) -> None:
        """Stop sending an unpublished track: its m-line goes inactive and the connection renegotiates."""
        async with self.lock:
            if out.transceiver is not None and out.sender is not None:
                # Feed the sender a stand-in, so the application's track is released at once.
                out.sender.replaceTrack(stand_in_track(out.publication.kind, None, None))
                out.transceiver.direction = "inactive"
                await self.negotiate()

    # --- both ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close both connections; the publications stay, without senders, to be attached again."""
        pcs = [pc for pc in (self.publisher, self.subscriber) if pc is not None]
        self.publisher = self.subscriber = None
        for out in self.outgoing.values():
            out.sender = out.transceiver = None
        for pc in pcs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), 5.0)


def msid_by_mid(sdp: str) -> dict[str, tuple[str, str]]:
    """``mid -> (stream id, track id)`` from the ``a=mid`` / ``a=msid`` lines of each m-section."""
    found: dict[str, tuple[str, str]] = {}
    mid: str | None = None
    msid: tuple[str, str] | None = None

    def flush() -> None:
        if mid is not None and msid is not None:
            found[mid] = msid

    for line in sdp.splitlines():
        if line.startswith("m="):
            flush()
            mid, msid = None, None
        elif line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=msid:"):
            parts = line[7:].split()
            if len(parts) >= 2:
                msid = (parts[0], parts[1])
    flush()
    return found
