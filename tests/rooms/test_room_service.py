"""Rooms alone: the room service on a fake transport (no socket) and a manual clock.

A join returns its outcome (``joined`` and the frames that follow it, in order); the other
participants' frames go to their outboxes; leaving, disconnecting and resuming change the room as
the protocol says.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hubbub.control.tokens import VerifiedToken
from hubbub.proto import sdp
from hubbub.proto.sdp import Candidate
from hubbub.rooms.model import Participant, ParticipantState
from hubbub.rooms.network import Budget, RoomNetworkQuality
from hubbub.rooms.ports import MediaPeer
from hubbub.rooms.service import JoinOutcome, RoomError, RoomService, RoomSettings
from hubbub.schema import signaling as sig
from hubbub.schema.tokens import Privilege, Role
from hubbub.sfu.fanout import Fanout
from hubbub.transport import PeerHandler, PeerState
from hubbub.util.clock import ManualClock

OFFER = (Path(__file__).parents[1] / "proto" / "fixtures" / "sdp" / "chromium_offer_audio_video.sdp").read_text()
APP, CHANNEL = "app1", "lobby"
ALL = tuple(Privilege)


class FakePeer:
    """A peer connection that records what rooms ask of it."""

    def __init__(self, handler: PeerHandler, ufrag: str) -> None:
        self.handler = handler
        self._ufrag = ufrag
        self._state = PeerState.NEW
        self.remote_credentials: tuple[str, str] | None = None
        self.rtp: list[bytes] = []

    @property
    def ice_ufrag(self) -> str:
        return self._ufrag

    @property
    def ice_pwd(self) -> str:
        return "p" * 24

    @property
    def state(self) -> PeerState:
        return self._state

    @property
    def over_tcp(self) -> bool:
        return False

    def connect(self) -> None:
        self._state = PeerState.CONNECTED
        self.handler.on_state(self, PeerState.CONNECTED)  # type: ignore[arg-type]  # a fake PeerTransport

    def send_rtp(self, packet: bytes) -> None:
        self.rtp.append(packet)

    def send_rtcp(self, packet: bytes) -> None:
        pass

    def restart_ice(self, remote_ufrag: str | None, remote_pwd: str | None) -> tuple[str, str]:
        return self._ufrag, self.ice_pwd

    def set_remote_credentials(self, remote_ufrag: str, remote_pwd: str) -> None:
        self.remote_credentials = (remote_ufrag, remote_pwd)

    def set_remote_fingerprints(self, fingerprints: Sequence[tuple[str, str]]) -> None:
        pass

    def set_transport_cc(self, ext_id: int | None) -> None:
        self.transport_cc = ext_id

    def close(self) -> None:
        self._state = PeerState.CLOSED


class FakeTransport:
    """The server's transport without sockets: peers are :class:`FakePeer`, its clock is manual."""

    fanout: Fanout | None = None
    fingerprint = ("sha-256", ":".join(["5A"] * 32))

    def __init__(self) -> None:
        self.monotonic = 100.0
        self.peers: list[FakePeer] = []
        self._ufrags = 0

    def now(self) -> float:
        return self.monotonic

    def new_ufrag(self) -> str:
        self._ufrags += 1
        return f"uf{self._ufrags:02d}"

    def local_candidates(self, ufrag: str | None = None) -> list[Candidate]:
        return [sdp.parse_candidate("candidate:1 1 udp 2130706431 127.0.0.1 47000 typ host generation 0")]

    def create_peer(
        self,
        handler: PeerHandler,
        *,
        remote_ufrag: str | None = None,
        remote_pwd: str | None = None,
        remote_fingerprints: Sequence[tuple[str, str]] = (),
    ) -> MediaPeer:
        peer = FakePeer(handler, self.new_ufrag())
        self.peers.append(peer)
        return peer


class Client:
    """A participant's signaling outbox: the frames room events send it, and how it was closed."""

    def __init__(self) -> None:
        self.frames: list[sig.ServerMessage] = []
        self.closed: sig.LeaveReason | None = None

    def send(self, message: sig.ServerMessage) -> None:
        if self.closed is None:
            self.frames.append(message)

    def close(self, reason: sig.LeaveReason, message: str = "") -> None:
        self.closed = reason

    def types(self) -> list[type[Any]]:
        return [type(f) for f in self.frames]


class Harness:
    def __init__(self, **settings: Any) -> None:
        self.clock = ManualClock()
        self.transport = FakeTransport()
        self.rooms = RoomService(self.transport, self.clock, RoomSettings(native_fanout=False, **settings))

    def grant(self, user: str, privileges: Sequence[Privilege] = ALL, ttl: float = 3600.0) -> VerifiedToken:
        now = self.clock()
        return VerifiedToken(
            app_id=APP,
            user_id=user,
            channel=CHANNEL,
            role=Role.host,
            privileges={p: now + ttl for p in privileges},
            issued_at=now,
            not_before=now,
            expires_at=now + ttl,
            token_id=f"t-{user}",
        )

    def join(self, user: str, client: Client | None = None, **kw: Any) -> tuple[JoinOutcome, Client]:
        client = client or Client()
        return self.rooms.join(self.grant(user), CHANNEL, client, **kw), client

    def publish_offer(self, outcome: JoinOutcome) -> str:
        answer, refusal = self.rooms.publisher_offer(outcome.room, outcome.participant, OFFER)
        assert refusal is None
        return answer


def test_a_join_into_an_empty_room_is_joined_alone() -> None:
    h = Harness()
    outcome, client = h.join("alice", name="Alice")
    assert outcome.frames() == [outcome.joined]
    joined = outcome.joined
    assert joined.participant.identity == "alice" and joined.participant.name == "Alice"
    assert joined.participants == [] and not joined.resumed and joined.offer == ""
    assert joined.room.channel == CHANNEL and joined.room.created_at == h.clock()
    assert joined.resume_key == outcome.participant.resume_key != ""
    assert client.frames == []  # signaling sends the outcome; the room sent nothing itself


def test_a_join_returns_joined_then_its_subscriptions_then_the_subscriber_offer() -> None:
    h = Harness()
    alice, alice_client = h.join("alice")
    h.publish_offer(alice)
    tracks = [pub.sid for pub in alice.participant.publications.values()]
    assert len(tracks) == 2 and all(pub.active for pub in alice.participant.publications.values())

    bob, bob_client = h.join("bob")
    assert [type(f) for f in bob.frames()] == [sig.Joined, sig.SubscriptionUpdate, sig.SubscriptionUpdate, sig.Offer]
    updates = [f for f in bob.follow_ups if isinstance(f, sig.SubscriptionUpdate)]
    assert [(u.track_sid, u.subscribed, u.mid) for u in updates] == [(tracks[0], True, "0"), (tracks[1], True, "1")]
    offer = bob.follow_ups[-1]
    assert isinstance(offer, sig.Offer)
    assert [m.mid for m in sdp.parse(offer.sdp).media] == ["0", "1"]  # one offer for both tracks
    assert [p.identity for p in bob.joined.participants] == ["alice"]
    assert [t.sid for t in bob.joined.participants[0].tracks] == tracks
    assert bob_client.frames == []
    # Alice hears of bob as a room event on her outbox.
    assert alice_client.types() == [sig.ParticipantJoined]
    assert bob.participant.subscriptions == set(tracks)


def test_inline_offer_goes_into_joined() -> None:
    h = Harness()
    alice, _ = h.join("alice")
    h.publish_offer(alice)
    bob, _ = h.join("bob", inline_offer=True)
    assert [type(f) for f in bob.frames()] == [sig.Joined, sig.SubscriptionUpdate, sig.SubscriptionUpdate]
    assert [m.mid for m in sdp.parse(bob.joined.offer).media] == ["0", "1"]
    # It is the outstanding subscriber offer: answered like any other, and only once.
    h.rooms.subscriber_answer(bob.room, bob.participant, _answer_to(bob.joined.offer))
    with pytest.raises(RoomError) as refused:
        h.rooms.subscriber_answer(bob.room, bob.participant, _answer_to(bob.joined.offer))
    assert refused.value.code == sig.ErrorCode.out_of_order


def test_inline_offer_with_nothing_to_receive_leaves_joined_without_one() -> None:
    h = Harness()
    outcome, _ = h.join("alice", inline_offer=True)
    assert outcome.frames() == [outcome.joined] and outcome.joined.offer == ""


def test_a_publisher_offer_reaches_the_others_in_order() -> None:
    h = Harness()
    alice, _ = h.join("alice")
    _, bob_client = h.join("bob")
    h.publish_offer(alice)
    assert bob_client.types() == [
        sig.ParticipantUpdated,
        sig.SubscriptionUpdate,
        sig.ParticipantUpdated,
        sig.SubscriptionUpdate,
        sig.Offer,
    ]


def test_a_refused_line_is_answered_with_port_zero_and_an_error() -> None:
    h = Harness()
    outcome = h.rooms.join(h.grant("viewer", [Privilege.join_channel, Privilege.subscribe]), CHANNEL, Client())
    answer, refusal = h.rooms.publisher_offer(outcome.room, outcome.participant, OFFER)
    assert refusal is not None and refusal.code == sig.ErrorCode.permission_denied
    assert [m.port for m in sdp.parse(answer).media] == [0, 0]
    assert h.transport.peers == []  # nothing accepted: no transport was created


def test_resume_takes_the_participant_back_and_offers_its_subscriptions_again() -> None:
    h = Harness(reconnect_window=10.0)
    alice, alice_client = h.join("alice")
    h.publish_offer(alice)
    bob, first = h.join("bob")
    bob_sid, key = bob.participant.sid, bob.participant.resume_key
    h.rooms.disconnected(bob.participant)
    assert bob.participant.state is ParticipantState.disconnected
    h.clock.advance(5.0)
    h.rooms.tick()
    alice_client.frames.clear()

    again, second = h.join("bob", resume_sid=bob_sid, resume_key=key, inline_offer=True)
    assert again.participant is bob.participant and again.joined.resumed
    assert again.participant.state is ParticipantState.joined and again.participant.outbox is second
    # The subscriptions are kept; the client brings a new connection, so they are offered afresh.
    assert [type(f) for f in again.frames()] == [sig.Joined, sig.Offer]
    assert again.joined.offer == ""
    assert alice_client.frames == []  # alice never saw bob leave or join
    assert first.closed is None  # it had gone already


def test_resume_from_a_second_connection_closes_the_first() -> None:
    h = Harness()
    bob, first = h.join("bob")
    again, _ = h.join("bob", resume_sid=bob.participant.sid, resume_key=bob.participant.resume_key)
    assert again.joined.resumed and first.closed is sig.LeaveReason.duplicate_identity


def test_a_wrong_resume_key_joins_as_a_new_participant() -> None:
    h = Harness()
    bob, first = h.join("bob")
    again, _ = h.join("bob", resume_sid=bob.participant.sid, resume_key="guess")
    assert not again.joined.resumed and again.participant is not bob.participant
    (kicked,) = first.frames
    assert isinstance(kicked, sig.Kicked) and kicked.reason is sig.LeaveReason.duplicate_identity


def test_leave_tells_the_others_and_the_empty_room_goes_after_its_ttl() -> None:
    h = Harness(empty_room_ttl=5.0)
    alice, alice_client = h.join("alice")
    h.publish_offer(alice)
    bob, bob_client = h.join("bob")
    bob_client.frames.clear()
    h.rooms.leave(alice.participant, sig.LeaveReason.client_left)
    assert alice.participant.state is ParticipantState.left
    assert bob_client.types() == [sig.SubscriptionUpdate, sig.SubscriptionUpdate, sig.ParticipantLeft]
    left = bob_client.frames[-1]
    assert isinstance(left, sig.ParticipantLeft) and left.reason is sig.LeaveReason.client_left
    assert bob.participant.subscriptions == set()
    assert all(peer.state is PeerState.CLOSED for peer in h.transport.peers[:1])  # alice's publisher
    h.rooms.leave(bob.participant)
    assert h.rooms.room(APP, CHANNEL) is not None
    h.clock.advance(4.0)
    h.rooms.tick()
    assert h.rooms.room(APP, CHANNEL) is not None
    h.clock.advance(1.5)
    h.rooms.tick()
    assert h.rooms.room(APP, CHANNEL) is None
    assert alice_client.types() == [sig.ParticipantJoined]


def test_a_disconnected_participant_is_removed_after_the_window() -> None:
    h = Harness(reconnect_window=10.0)
    _, alice_client = h.join("alice")
    bob, _ = h.join("bob")
    alice_client.frames.clear()
    h.rooms.disconnected(bob.participant)
    h.clock.advance(9.5)
    h.rooms.tick()
    assert _state(bob.participant) is ParticipantState.disconnected and alice_client.frames == []
    h.clock.advance(1.0)
    h.rooms.tick()
    assert _state(bob.participant) is ParticipantState.left
    (left,) = alice_client.frames
    assert isinstance(left, sig.ParticipantLeft) and left.reason is sig.LeaveReason.connection_lost


def test_a_subscriber_connection_starts_receiving_once_it_answered_and_connected() -> None:
    h = Harness()
    alice, _ = h.join("alice")
    h.publish_offer(alice)
    bob, _ = h.join("bob")
    offer = bob.follow_ups[-1]
    assert isinstance(offer, sig.Offer)
    subscriber = h.transport.peers[-1]
    h.rooms.subscriber_answer(bob.room, bob.participant, _answer_to(offer.sdp))
    media = h.rooms.media_of(bob.room)
    assert not any(dt.receiving for dt in _down_tracks(h, bob.participant))
    subscriber.connect()
    assert all(dt.receiving for dt in _down_tracks(h, bob.participant))
    assert media.participant(bob.participant).subscriber is subscriber


def test_a_room_full_join_is_refused() -> None:
    h = Harness(max_participants=1)
    h.join("alice")
    with pytest.raises(RoomError) as refused:
        h.join("bob")
    assert refused.value.code == sig.ErrorCode.room_full


def _state(p: Participant) -> ParticipantState:
    return p.state


def _down_tracks(h: Harness, p: Participant) -> list[Any]:
    room = h.rooms.room(APP, CHANNEL)
    assert room is not None
    router = h.rooms.media_of(room).router
    return [dt for sid in p.subscriptions if (dt := router.down_track(sid, p.sid)) is not None]


def _answer_to(offer_sdp: str) -> str:
    """A client's answer: every offered m-line accepted recvonly, with its own ICE and DTLS."""
    desc = sdp.parse(offer_sdp)
    for m in desc.media:
        m.direction = "recvonly"
        m.setup = "active"
        m.ice_ufrag, m.ice_pwd = "cli1", "c" * 24
        m.fingerprints = [sdp.Fingerprint("sha-256", ":".join(["7B"] * 32))]
        m.candidates = []
    return sdp.serialize(desc)


def test_network_quality_goes_to_each_connected_participant_every_two_seconds() -> None:
    h = Harness()
    alice, alice_client = h.join("alice")
    h.publish_offer(alice)
    h.transport.peers[0].connect()  # alice's publisher connection
    bob, bob_client = h.join("bob")
    offer = bob.follow_ups[-1]
    assert isinstance(offer, sig.Offer)
    h.rooms.subscriber_answer(bob.room, bob.participant, _answer_to(offer.sdp))
    h.transport.peers[-1].connect()  # bob's subscriber connection
    carol, carol_client = h.join("carol")  # no media connection yet
    for c in (alice_client, bob_client, carol_client):
        c.frames.clear()

    def qualities(client: Client) -> list[sig.NetworkQuality]:
        return [f for f in client.frames if isinstance(f, sig.NetworkQuality)]

    h.rooms.tick()
    h.transport.monotonic += 1.0
    h.rooms.tick()
    (first,) = qualities(alice_client)
    assert qualities(bob_client) == [first] and qualities(carol_client) == []
    sids = {alice.participant.sid, bob.participant.sid, carol.participant.sid}
    assert {q.participant_sid for q in first.participants} == sids  # everyone's, one's own included
    assert all((q.uplink, q.downlink) == (sig.Quality.unknown,) * 2 for q in first.participants)
    h.transport.monotonic += 1.0
    h.rooms.tick()
    assert len(qualities(alice_client)) == len(qualities(bob_client)) == 2
    # Nothing arrived from alice's published tracks in 2 s, then 5: her uplink is down.
    h.transport.monotonic += 4.0
    h.rooms.tick()
    last = {q.participant_sid: q for q in qualities(alice_client)[-1].participants}
    assert last[alice.participant.sid].uplink == sig.Quality.down
    assert last[bob.participant.sid].uplink == sig.Quality.unknown  # he publishes nothing


def test_in_a_large_room_network_quality_lists_the_publishers_and_ones_own() -> None:
    h = Harness()
    host, host_client = h.join("host")
    h.publish_offer(host)
    viewers = [h.join(f"viewer-{i}") for i in range(50)]  # 51 participants: over the roster limit
    for peer in h.transport.peers:
        peer.connect()
    h.rooms.tick()
    (to_host,) = [f for f in host_client.frames if isinstance(f, sig.NetworkQuality)]
    assert [q.participant_sid for q in to_host.participants] == [host.participant.sid]
    for outcome, client in viewers:
        (frame,) = [f for f in client.frames if isinstance(f, sig.NetworkQuality)]
        assert [q.participant_sid for q in frame.participants] == [host.participant.sid, outcome.participant.sid]


def test_a_downlink_budget_short_of_the_need_lowers_that_participants_downlink() -> None:
    h = Harness()
    alice, _ = h.join("alice")
    h.publish_offer(alice)
    bob, _ = h.join("bob")
    for peer in h.transport.peers:
        peer.connect()
    short = Budget(estimate_bps=100_000, need_bps=1_000_000)
    quality = RoomNetworkQuality(downlink_budget=lambda p: short if p is bob.participant else None)
    frames = quality.tick(bob.room, h.rooms.media_of(bob.room), h.transport.now())
    assert {p.identity for p, _ in frames} == {"alice", "bob"}
    scores = {q.participant_sid: q.downlink for q in frames[0][1].participants}
    assert scores == {alice.participant.sid: sig.Quality.unknown, bob.participant.sid: sig.Quality.bad}
