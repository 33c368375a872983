"""Dynacast (hubbub.rooms.dynacast) on a manual clock, and RoomMedia with a rid simulcast
publisher: what subscribers want becomes ``video_layers`` for the publisher, and a hidden video
becomes ``stream_state`` paused ``not_wanted`` for its subscriber."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from test_media_simulcast import Transport

from hubbub.rooms.dynacast import HOLD, Dynacast
from hubbub.rooms.media import RoomMedia, VideoQuality
from hubbub.rooms.model import Participant, Publication, Room
from hubbub.schema import signaling as sig

OFFER = Path(__file__).parents[1] / "proto" / "fixtures" / "sdp" / "chromium_offer_audio_video_simulcast.sdp"
RIDS = ("q", "h", "f")


def test_a_layer_nobody_wants_turns_off_after_the_hold_and_on_at_once() -> None:
    d = Dynacast()
    assert d.update("v", RIDS, subscribed=True, highest=2, now=0.0) is None  # all on: as encoded
    assert d.update("v", RIDS, subscribed=True, highest=0, now=1.0) is None
    assert d.update("v", RIDS, subscribed=True, highest=0, now=HOLD - 0.1) is None
    assert d.update("v", RIDS, subscribed=True, highest=0, now=HOLD) == (
        ("q", True),
        ("h", False),
        ("f", False),
    )
    assert d.update("v", RIDS, subscribed=True, highest=0, now=20.0) is None  # told already
    assert d.update("v", RIDS, subscribed=True, highest=2, now=20.1) == (("q", True), ("h", True), ("f", True))


def test_the_lowest_layer_stays_on_while_anyone_subscribes_and_all_go_off_without_subscribers() -> None:
    d = Dynacast()
    d.update("v", RIDS, subscribed=True, highest=-1, now=0.0)  # every subscriber hides it
    assert d.update("v", RIDS, subscribed=True, highest=-1, now=HOLD) == (("q", True), ("h", False), ("f", False))
    assert d.update("v", RIDS, subscribed=False, highest=-1, now=HOLD + 1) is None
    assert d.update("v", RIDS, subscribed=False, highest=-1, now=2 * HOLD) == (
        ("q", False),
        ("h", False),
        ("f", False),
    )
    assert d.update("v", RIDS, subscribed=True, highest=1, now=30.0) == (("q", True), ("h", True), ("f", False))


def test_a_forgotten_track_starts_again_with_every_layer_on() -> None:
    d = Dynacast()
    d.update("v", RIDS, subscribed=True, highest=0, now=0.0)
    assert d.update("v", RIDS, subscribed=True, highest=0, now=HOLD) is not None
    d.forget("v")
    assert d.update("v", RIDS, subscribed=True, highest=0, now=HOLD + 1) is None
    assert d.due(0.0) and not d.due(0.1) and d.due(0.6)


def participant(sid: str) -> Participant:
    return Participant(sid, sid, cast(Any, None), cast(Any, None))  # no signaling here


def simulcast_room() -> tuple[RoomMedia, Transport, dict[str, Participant], Publication]:
    room, transport = Room("r1", "app", "lobby", 0.0), Transport()
    media = RoomMedia(room, cast(Any, transport))
    people = {sid: participant(sid) for sid in ("pub", "a", "b")}
    for p in people.values():
        room.participants[p.sid] = p
        media.attach(p)
    read = media.read_publisher_offer(OFFER.read_text())
    video = next(line for line in read.lines if line.kind == "video")
    cam = Publication("cam", "pub", video.track_id, sig.TrackKind.video, width=640, height=360)
    people["pub"].publications["cam"] = cam
    media.answer_publisher_offer(people["pub"], read, {video.mid: cam}, ())
    return media, transport, people, cam


def layers_sent(media: RoomMedia) -> list[dict[str, bool]]:
    return [
        {layer.rid: layer.active for layer in m.layers}
        for p, m in media.take_signals()
        if isinstance(m, sig.VideoLayers) and p.sid == "pub"
    ]


def test_the_publisher_hears_which_layers_its_subscribers_want() -> None:
    media, transport, people, cam = simulcast_room()
    media.set_video_quality(people["a"], "cam", VideoQuality("low"))
    media.set_subscription(people["a"], people["pub"], cam, subscribed=True)
    media.tick()
    assert layers_sent(media) == []  # within the hold: all still on
    transport.t += HOLD
    media.tick()
    assert layers_sent(media) == [{"q": True, "h": False, "f": False}]
    media.set_subscription(people["b"], people["pub"], cam, subscribed=True)  # wants the top one
    assert layers_sent(media) == [{"q": True, "h": True, "f": True}]
    media.set_video_quality(people["b"], "cam", VideoQuality(width=320, height=180))
    transport.t += HOLD
    media.tick()
    assert layers_sent(media) == [{"q": True, "h": True, "f": False}]
    media.set_video_quality(people["b"], "cam", VideoQuality(visible=False))
    media.set_subscription(people["a"], people["pub"], cam, subscribed=False)
    transport.t += HOLD
    media.tick()
    assert layers_sent(media) == [{"q": True, "h": False, "f": False}]  # b hides it: the lowest stays
    media.set_subscription(people["b"], people["pub"], cam, subscribed=False)
    transport.t += HOLD
    media.tick()
    assert layers_sent(media) == [{"q": False, "h": False, "f": False}]


def test_a_hidden_video_is_paused_not_wanted_and_resumed_when_shown() -> None:
    media, _transport, people, cam = simulcast_room()
    media.set_subscription(people["a"], people["pub"], cam, subscribed=True)
    media.take_signals()
    media.set_video_quality(people["a"], "cam", VideoQuality(visible=False))
    down = media.router.down_track("cam", "a")
    assert down is not None
    states = [(p.sid, m) for p, m in media.take_signals() if isinstance(m, sig.StreamState)]
    assert states == [("a", sig.StreamState(track_sid="cam", state=sig.StreamStatus.paused, reason="not_wanted"))]
    media.set_video_quality(people["a"], "cam", VideoQuality("low"))
    states = [(p.sid, m) for p, m in media.take_signals() if isinstance(m, sig.StreamState)]
    assert states == [("a", sig.StreamState(track_sid="cam", state=sig.StreamStatus.active, reason=""))]
    assert down.target_layer[0] == 0
