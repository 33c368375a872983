"""Participant-minutes and the ICE servers of ``joined``, each alone."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, cast

from hubbub.rooms.ice import ice_servers
from hubbub.rooms.model import Participant, ParticipantState, Publication, Room
from hubbub.rooms.usage import UsageMeter
from hubbub.schema import signaling as sig


def _room() -> Room:
    room = Room(sid="RM_1", app_id="app1", channel="lobby", created_at=0.0)
    grant = cast(Any, None)
    for sid in ("PA_pub", "PA_watch", "PA_listen", "PA_gone"):
        room.participants[sid] = Participant(sid=sid, identity=sid, grant=grant, outbox=cast(Any, None))
    publisher = room.participants["PA_pub"]
    for track, kind in (("TR_a", sig.TrackKind.audio), ("TR_v", sig.TrackKind.video)):
        publisher.publications[track] = Publication(sid=track, participant_sid="PA_pub", cid=track, kind=kind)
    room.participants["PA_watch"].subscriptions = {"TR_a", "TR_v"}
    room.participants["PA_listen"].subscriptions = {"TR_a"}
    room.participants["PA_gone"].subscriptions = {"TR_v"}
    room.participants["PA_gone"].state = ParticipantState.disconnected
    return room


def test_receiving_any_video_counts_as_video_and_minutes_are_reported_once_a_minute() -> None:
    reports: list[tuple[str, float, float]] = []
    meter = UsageMeter(lambda app, audio, video: reports.append((app, audio, video)))
    room = _room()
    meter.meter(room, 30.0)
    meter.flush(1000.0)
    # The publisher and the listener: audio; the watcher: video; the disconnected one: nothing.
    assert reports == [("app1", 1.0, 0.5)]
    meter.meter(room, 30.0)
    meter.flush(1059.0)  # within the minute: kept
    assert len(reports) == 1
    meter.flush(1059.0, force=True)  # at shutdown
    assert reports[1] == ("app1", 1.0, 0.5)
    meter.flush(2000.0)  # nothing metered since: nothing reported
    assert len(reports) == 2


def test_stun_and_turn_servers_with_a_time_limited_turn_credential() -> None:
    urls = ("stun:stun.example.com:3478", "turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349")
    stun, turn = ice_servers(urls, "s3cret", 3600.0, "alice", 1_750_000_000.4)
    assert stun == sig.IceServer(urls=["stun:stun.example.com:3478"])
    assert turn.urls == list(urls[1:]) and turn.username == "1750003600:alice"
    digest = hmac.new(b"s3cret", b"1750003600:alice", hashlib.sha1).digest()
    assert turn.credential == base64.b64encode(digest).decode()
    assert ice_servers((), "", 3600.0, "alice", 0.0) == []
