"""The remote-participant bookkeeping alone: frames in, state and events out, no room or socket."""

from __future__ import annotations

from aiortc.mediastreams import AudioStreamTrack

from hubbub.schema import signaling as proto
from hubbub.sdk import (
    ParticipantJoined,
    ParticipantLeft,
    ParticipantUpdated,
    RoomEvent,
    TrackMuted,
    TrackPublished,
    TrackSubscribed,
    TrackUnpublished,
    TrackUnsubscribed,
)
from hubbub.sdk.participants import Participants


def track(sid: str, participant_sid: str = "PB", kind: str = "audio", **extra: object) -> proto.TrackInfo:
    return proto.TrackInfo(sid=sid, participant_sid=participant_sid, kind=proto.TrackKind(kind), **extra)  # type: ignore[arg-type]


def person(sid: str = "PB", identity: str = "bob", *tracks: proto.TrackInfo, name: str = "") -> proto.ParticipantInfo:
    return proto.ParticipantInfo(sid=sid, identity=identity, role="host", name=name, tracks=list(tracks))


def joined(me: str, *others: proto.ParticipantInfo) -> proto.Joined:
    return proto.Joined(
        room=proto.RoomInfo(sid="RM", channel="c", created_at=1.0),
        participant=person(me, "me"),
        participants=[person(me, "me"), *others],
    )


def kinds(events: list[RoomEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_joined_fills_the_room_without_ourselves() -> None:
    remote = Participants()
    events = remote.apply_joined(joined("PA", person("PB", "bob", track("TB1")), person("PC", "cat")))
    assert sorted(remote.by_sid) == ["PB", "PC"]
    assert remote.by_sid["PB"].tracks["TB1"].kind == "audio"
    assert kinds(events) == ["ParticipantJoined", "TrackPublished", "ParticipantJoined"]


def test_a_resume_joined_removes_who_is_gone_and_updates_the_rest() -> None:
    remote = Participants()
    remote.apply_joined(joined("PA", person("PB", "bob", track("TB1")), person("PC", "cat")))
    events = remote.apply_joined(joined("PA2", person("PC", "cat", name="Cat")))
    assert list(remote.by_sid) == ["PC"] and remote.by_sid["PC"].name == "Cat"
    assert kinds(events) == ["TrackUnpublished", "ParticipantLeft", "ParticipantUpdated"]
    left = events[1]
    assert isinstance(left, ParticipantLeft) and left.participant.sid == "PB" and left.reason == "connection_lost"


def test_an_update_drops_unlisted_tracks_and_announces_new_ones() -> None:
    remote = Participants()
    (joined_event, published) = remote.upsert(person("PB", "bob", track("TB1")))
    assert isinstance(joined_event, ParticipantJoined) and isinstance(published, TrackPublished)
    events = remote.upsert(person("PB", "bob", track("TB2", kind="video"), name="Bob"))
    assert kinds(events) == ["ParticipantUpdated", "TrackUnpublished", "TrackPublished"]
    assert isinstance(events[0], ParticipantUpdated) and events[0].participant.name == "Bob"
    assert list(remote.by_sid["PB"].tracks) == ["TB2"]


def test_tracks_of_unknown_participants_and_repeated_tracks_change_nothing() -> None:
    remote = Participants()
    remote.upsert(person())
    assert remote.upsert_track(track("TX", participant_sid="PZ")) == []
    assert kinds(remote.upsert_track(track("TB1", name="mic"))) == ["TrackPublished"]
    assert remote.upsert_track(track("TB1", name="renamed", muted=True)) == []  # an update, not news
    pub = remote.by_sid["PB"].tracks["TB1"]
    assert pub.name == "renamed" and pub.muted
    assert remote.unpublish("TX") == [] and remote.set_muted("TX", True) == [] and remote.leave("PZ", "kicked") == []


def test_mute_and_unpublish() -> None:
    remote = Participants()
    remote.upsert(person("PB", "bob", track("TB1")))
    (muted,) = remote.set_muted("TB1", True)
    assert isinstance(muted, TrackMuted) and muted.muted and muted.publication.muted
    (gone,) = remote.unpublish("TB1")
    assert isinstance(gone, TrackUnpublished) and gone.publication.sid == "TB1"
    assert remote.find("TB1") is None


def test_a_received_track_is_subscribed_then_ends_before_its_publication() -> None:
    remote = Participants()
    remote.upsert(person("PB", "bob", track("TB1")))
    assert remote.subscription(proto.SubscriptionUpdate(track_sid="TB1", subscribed=True, mid="3")) == []
    pub = remote.by_sid["PB"].tracks["TB1"]
    assert pub.subscribed and pub.mid == "3"
    media = AudioStreamTrack()
    arrived = remote.track_arrived("PB", "TB1", "", media)
    assert isinstance(arrived, TrackSubscribed) and arrived.track is media and pub.track is media and pub.mid == "3"
    events = remote.leave("PB", "client_left")
    assert kinds(events) == ["TrackUnsubscribed", "TrackUnpublished", "ParticipantLeft"]
    assert not pub.subscribed and pub.track is None


def test_a_track_that_arrives_before_its_frame_is_added_to_a_known_participant() -> None:
    remote = Participants()
    remote.upsert(person())
    arrived = remote.track_arrived("PB", "TB9", "1", AudioStreamTrack())
    assert arrived is not None and arrived.publication.sid == "TB9" and arrived.publication.kind == "audio"
    assert remote.track_arrived("PZ", "TZ", "2", AudioStreamTrack()) is None
    assert "TZ" not in {sid for p in remote.by_sid.values() for sid in p.tracks}


def test_unsubscribe_all_ends_every_received_track_once() -> None:
    remote = Participants()
    remote.upsert(person("PB", "bob", track("TB1"), track("TB2")))
    remote.track_arrived("PB", "TB1", "0", AudioStreamTrack())
    remote.subscription(proto.SubscriptionUpdate(track_sid="TB2", subscribed=True))
    (ended,) = remote.unsubscribe_all()
    assert isinstance(ended, TrackUnsubscribed) and ended.publication.sid == "TB1"
    assert not ended.publication.subscribed  # already false when the event is emitted
    assert not remote.by_sid["PB"].tracks["TB2"].subscribed
    assert remote.unsubscribe_all() == []
    off = remote.subscription(proto.SubscriptionUpdate(track_sid="TB1", subscribed=False))
    assert off == []  # nothing was arriving any more


def test_live_track_matches_every_filter_given() -> None:
    remote = Participants()
    remote.upsert(person("PB", "bob", track("TB1", source=proto.TrackSource.microphone), track("TB2", kind="video")))
    remote.upsert(person("PC", "cat", track("TC1", participant_sid="PC")))
    mic, cat = AudioStreamTrack(), AudioStreamTrack()
    assert remote.live_track() is None  # announced, not received
    remote.track_arrived("PB", "TB1", "0", mic)
    remote.track_arrived("PC", "TC1", "1", cat)
    assert remote.live_track("bob") is mic
    assert remote.live_track(participant_sid="PC") is cat
    assert remote.live_track("bob", kind="audio", source="microphone", track_sid="TB1") is mic
    assert remote.live_track("bob", kind="video") is None
    assert remote.live_track("cat", source="microphone") is None  # TC1's source is unknown
    mic.stop()
    assert remote.live_track("bob") is None  # ended tracks do not count
