"""RoomMedia with a rid simulcast publisher (Chromium's offer: a=rid q/h/f, no a=ssrc): the line is
approved and routed as one up-track with three layers, and a subscriber's wished quality picks the
layer its down-track forwards, before or after it subscribes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from hubbub.proto import sdp
from hubbub.proto.sdp import Candidate
from hubbub.rooms.media import RoomMedia, VideoQuality
from hubbub.rooms.model import Participant, Publication, Room
from hubbub.schema import signaling as sig
from hubbub.transport import PeerHandler, PeerState

OFFER = Path(__file__).parents[1] / "proto" / "fixtures" / "sdp" / "chromium_offer_audio_video_simulcast.sdp"


class Peer:
    """Only what RoomMedia asks of a peer connection."""

    def __init__(self, ufrag: str) -> None:
        self.ice_ufrag, self.ice_pwd = ufrag, "p" * 24
        self.state, self.over_tcp = PeerState.NEW, False

    def send_rtp(self, packet: bytes) -> None: ...

    def send_rtcp(self, packet: bytes) -> None: ...

    def restart_ice(self, remote_ufrag: str | None, remote_pwd: str | None) -> tuple[str, str]:
        return self.ice_ufrag, self.ice_pwd

    def set_remote_credentials(self, remote_ufrag: str, remote_pwd: str) -> None: ...

    def set_remote_fingerprints(self, fingerprints: Sequence[tuple[str, str]]) -> None: ...

    def set_transport_cc(self, ext_id: int | None) -> None: ...

    def close(self) -> None:
        self.state = PeerState.CLOSED


class Transport:
    fanout = None
    fingerprint = ("sha-256", ":".join(["5A"] * 32))

    def __init__(self) -> None:
        self.count, self.t = 0, 50.0

    def now(self) -> float:
        return self.t

    def new_ufrag(self) -> str:
        self.count += 1
        return f"u{self.count}"

    def local_candidates(self, ufrag: str | None = None) -> list[Candidate]:
        return [sdp.parse_candidate("candidate:1 1 udp 2130706431 127.0.0.1 47000 typ host generation 0")]

    def create_peer(self, handler: PeerHandler, **_: Any) -> Peer:
        return Peer(self.new_ufrag())


def participant(sid: str) -> Participant:
    return Participant(sid, sid, cast(Any, None), cast(Any, None))  # no signaling here


def test_a_rid_simulcast_line_is_routed_and_each_subscriber_picks_its_layer() -> None:
    room = Room("r1", "app", "lobby", 0.0)
    media = RoomMedia(room, cast(Any, Transport()))
    pub, early, late = participant("pub"), participant("early"), participant("late")
    for p in (pub, early, late):
        room.participants[p.sid] = p
        media.attach(p)
    read = media.read_publisher_offer(OFFER.read_text())
    video = next(line for line in read.lines if line.kind == "video")
    cam = Publication("cam", "pub", video.track_id, sig.TrackKind.video, width=640, height=360)
    pub.publications["cam"] = cam
    answer, activated = media.answer_publisher_offer(pub, read, {video.mid: cam}, ())
    assert activated == [cam] and "a=simulcast:recv q;h;f" in answer
    up = media.router.up_track("cam")
    assert up is not None and up.simulcast and [layer.rid for layer in up.layers] == ["q", "h", "f"]

    media.set_video_quality(early, "cam", VideoQuality("low"))  # before subscribing: kept
    media.set_subscription(early, pub, cam, subscribed=True)
    media.set_subscription(late, pub, cam, subscribed=True)
    down = media.router.down_track("cam", "early")
    other = media.router.down_track("cam", "late")
    assert down is not None and other is not None
    assert down.target_layer[0] == 0 and other.target_layer[0] == 2  # the top one by default
    media.set_video_quality(late, "cam", VideoQuality(width=300, height=170))  # no key frame yet:
    assert other.target_layer[0] == 1  # the layers are taken as halving from the published size
    media.set_video_quality(late, "cam", VideoQuality("medium"))
    assert other.target_layer[0] == 1
