"""The remote participants of a room and their publications, kept from the server's frames.

:class:`Participants` is the room's bookkeeping without I/O: each method takes what a frame says
and returns the events it causes, in order; the room emits them (or drops them, for the state
it fills from the first ``joined``). Frames about unknown participants or tracks change nothing.
"""

from __future__ import annotations

from aiortc.mediastreams import MediaStreamTrack

from hubbub.schema import signaling as proto
from hubbub.sdk.events import (
    NetworkQuality,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantNetworkQuality,
    ParticipantUpdated,
    RoomEvent,
    TrackMuted,
    TrackPublished,
    TrackStreamStateChanged,
    TrackSubscribed,
    TrackUnpublished,
    TrackUnsubscribed,
)
from hubbub.sdk.records import LocalParticipant, NetworkQualityInfo, RemoteParticipant, RemotePublication

__all__ = ["Participants"]


class Participants:
    """Remote participants by sid (:attr:`by_sid`), each with its publications by track sid."""

    def __init__(self) -> None:
        self.by_sid: dict[str, RemoteParticipant] = {}

    def find(self, track_sid: str) -> tuple[RemoteParticipant, RemotePublication] | None:
        for participant in self.by_sid.values():
            pub = participant.tracks.get(track_sid)
            if pub is not None:
                return participant, pub
        return None

    # --- participants ---------------------------------------------------------------------------

    def apply_joined(self, joined: proto.Joined) -> list[RoomEvent]:
        """Make the room what ``joined`` lists: who is gone leaves (``connection_lost``), the rest
        is added or updated (a resume's ``joined`` lists the room as it is now)."""
        me = joined.participant.sid
        events: list[RoomEvent] = []
        present = {p.sid for p in joined.participants if p.sid != me}
        for sid in list(self.by_sid):
            if sid not in present:
                events += self._remove(sid, proto.LeaveReason.connection_lost.value)
        for info in joined.participants:
            if info.sid != me:
                events += self.upsert(info)
        return events

    def upsert(self, info: proto.ParticipantInfo) -> list[RoomEvent]:
        """``participant_joined`` / ``participant_updated``: the participant and its listed tracks."""
        events: list[RoomEvent] = []
        participant = self.by_sid.get(info.sid)
        if participant is None:
            participant = RemoteParticipant(
                sid=info.sid, identity=info.identity, role=info.role, name=info.name, metadata=info.metadata
            )
            self.by_sid[info.sid] = participant
            events.append(ParticipantJoined(participant=participant))
        else:
            participant.name, participant.metadata, participant.role = info.name, info.metadata, info.role
            events.append(ParticipantUpdated(participant=participant))
        listed = {t.sid for t in info.tracks}
        for sid, pub in list(participant.tracks.items()):
            if sid not in listed:
                events += self._drop_track(participant, pub)
        for track in info.tracks:
            events += self.upsert_track(track)
        return events

    def leave(self, participant_sid: str, reason: str) -> list[RoomEvent]:
        """``participant_left`` of someone else: their tracks end, then they leave."""
        return self._remove(participant_sid, reason)

    def _remove(self, sid: str, reason: str) -> list[RoomEvent]:
        gone = self.by_sid.pop(sid, None)
        if gone is None:
            return []
        events: list[RoomEvent] = []
        for pub in list(gone.tracks.values()):
            events += self._drop_track(gone, pub)
        events.append(ParticipantLeft(participant=gone, reason=reason))
        return events

    # --- publications ---------------------------------------------------------------------------

    def upsert_track(self, info: proto.TrackInfo) -> list[RoomEvent]:
        """``track_published`` (or a track listed with its participant): new tracks are announced."""
        participant = self.by_sid.get(info.participant_sid)
        if participant is None:
            return []
        pub = participant.tracks.get(info.sid)
        if pub is not None:
            pub.update(info)
            return []
        pub = RemotePublication(sid=info.sid, participant_sid=info.participant_sid, kind=str(info.kind))
        participant.tracks[info.sid] = pub
        pub.update(info)
        return [TrackPublished(publication=pub, participant=participant)]

    def unpublish(self, track_sid: str) -> list[RoomEvent]:
        found = self.find(track_sid)
        return self._drop_track(*found) if found is not None else []

    def set_muted(self, track_sid: str, muted: bool) -> list[RoomEvent]:
        found = self.find(track_sid)
        if found is None:
            return []
        participant, pub = found
        pub.muted = muted
        return [TrackMuted(publication=pub, participant=participant, muted=muted)]

    def _drop_track(self, participant: RemoteParticipant, pub: RemotePublication) -> list[RoomEvent]:
        events = self._unsubscribed(participant, pub)
        participant.tracks.pop(pub.sid, None)
        events.append(TrackUnpublished(publication=pub, participant=participant))
        return events

    # --- subscriptions --------------------------------------------------------------------------

    def subscription(self, update: proto.SubscriptionUpdate) -> list[RoomEvent]:
        """``subscription``: subscribed marks the publication (its track comes with an offer);
        unsubscribed ends a track this client receives."""
        found = self.find(update.track_sid)
        if found is None:
            return []
        participant, pub = found
        if update.subscribed:
            pub.subscribed = True
            pub.mid = update.mid or pub.mid
            return []
        return self._unsubscribed(participant, pub)

    def stream_state(self, frame: proto.StreamState) -> list[RoomEvent]:
        """``stream_state``: the server paused or resumed a video this client subscribes to."""
        found = self.find(frame.track_sid)
        if found is None or (found[1].stream_state, found[1].stream_state_reason) == (frame.state, frame.reason):
            return []
        participant, pub = found
        pub.stream_state, pub.stream_state_reason = str(frame.state), frame.reason
        return [
            TrackStreamStateChanged(
                publication=pub, participant=participant, state=pub.stream_state, reason=frame.reason
            )
        ]

    def track_arrived(
        self, participant_sid: str, track_sid: str, mid: str, track: MediaStreamTrack
    ) -> TrackSubscribed | None:
        """A remote track arrived on the subscriber connection (its ``a=msid`` named it).

        A track of a known participant that no frame announced yet is added; ``None`` when the
        participant is unknown.
        """
        found = self.find(track_sid)
        if found is None and participant_sid in self.by_sid:
            participant = self.by_sid[participant_sid]
            pub = RemotePublication(sid=track_sid, participant_sid=participant_sid, kind=track.kind)
            participant.tracks[track_sid] = pub
            found = participant, pub
        if found is None:
            return None
        participant, pub = found
        pub.track, pub.subscribed, pub.mid = track, True, mid or pub.mid
        return TrackSubscribed(track=track, publication=pub, participant=participant)

    def live_track(
        self,
        participant_identity: str | None = None,
        *,
        participant_sid: str | None = None,
        kind: str | None = None,
        source: str | None = None,
        track_sid: str | None = None,
    ) -> MediaStreamTrack | None:
        """The first live received track that matches every filter given (``None`` matches anything)."""
        for participant in self.by_sid.values():
            if participant_identity is not None and participant.identity != participant_identity:
                continue
            if participant_sid is not None and participant.sid != participant_sid:
                continue
            for pub in participant.tracks.values():
                if pub.track is None or pub.track.readyState != "live":
                    continue
                if (
                    (kind is None or pub.kind == kind)
                    and (source is None or pub.source == source)
                    and (track_sid is None or pub.sid == track_sid)
                ):
                    return pub.track
        return None

    def unsubscribe_all(self) -> list[RoomEvent]:
        """The subscriber connection closed: every received track ends."""
        return [
            event for p in self.by_sid.values() for pub in p.tracks.values() for event in self._unsubscribed(p, pub)
        ]

    def _unsubscribed(self, participant: RemoteParticipant, pub: RemotePublication) -> list[RoomEvent]:
        had_track, pub.track, pub.subscribed = pub.track is not None, None, False
        pub.stream_state, pub.stream_state_reason = "active", ""
        return [TrackUnsubscribed(publication=pub, participant=participant)] if had_track else []

    # --- network quality --------------------------------------------------------------------------

    def network_quality(self, frame: proto.NetworkQuality, local: LocalParticipant) -> list[RoomEvent]:
        """``network_quality``: each listed participant's scores are kept; the events say whose
        uplink or downlink score changed (this client's first, then the others' in frame order)."""
        events: list[RoomEvent] = []
        for entry in frame.participants:
            quality = NetworkQualityInfo.from_frame(entry)
            if entry.participant_sid == local.sid:
                previous, local.network_quality = local.network_quality, quality
                if _changed(previous, quality):
                    events.insert(0, NetworkQuality(quality=quality))
                continue
            participant = self.by_sid.get(entry.participant_sid)
            if participant is None:
                continue
            previous, participant.network_quality = participant.network_quality, quality
            if _changed(previous, quality):
                events.append(ParticipantNetworkQuality(participant=participant, quality=quality))
        return events


def _changed(previous: NetworkQualityInfo | None, now: NetworkQualityInfo) -> bool:
    return previous is None or (previous.uplink, previous.downlink) != (now.uplink, now.downlink)
