"""Rooms, participants and publications: the state signaling reads and changes.

A *room* is a channel of one project, alive while someone is in it. A *participant* is one
joined user (one token identity; joining again elsewhere replaces the older session). A
*publication* is one published track; a *subscription* is one participant receiving it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from hubbub.schema import signaling as sig
from hubbub.schema.tokens import Grant as Grant  # re-exported: rooms names it
from hubbub.schema.tokens import Privilege


class Outbox(Protocol):
    """Where a participant's signaling events go (its signaling connection)."""

    def send(self, message: sig.ServerMessage) -> None: ...

    def close(self, reason: sig.LeaveReason, message: str = "") -> None: ...


class ParticipantState(enum.Enum):
    joined = "joined"
    disconnected = "disconnected"  # signaling or media lost; may resume within the window
    left = "left"


@dataclass(slots=True)
class Publication:
    sid: str
    participant_sid: str
    cid: str
    kind: sig.TrackKind
    source: sig.TrackSource = sig.TrackSource.unknown
    name: str = ""
    muted: bool = False
    width: int = 0
    height: int = 0
    mime_type: str = ""
    mid: str | None = None  # the m-line on the publisher connection, once offered
    active: bool = False  # media negotiated and routed

    def info(self) -> sig.TrackInfo:
        return sig.TrackInfo(
            sid=self.sid,
            participant_sid=self.participant_sid,
            kind=self.kind,
            source=self.source,
            name=self.name,
            muted=self.muted,
            mime_type=self.mime_type,
            width=self.width,
            height=self.height,
        )


@dataclass(slots=True, eq=False)
class Participant:
    sid: str
    identity: str
    grant: Grant
    outbox: Outbox
    name: str = ""
    metadata: str = ""
    joined_at: float = 0.0
    auto_subscribe: bool = True
    resume_key: str = ""
    state: ParticipantState = ParticipantState.joined
    disconnected_at: float | None = None
    publications: dict[str, Publication] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)  # track sids this participant receives
    unsubscribed: set[str] = field(default_factory=set)  # explicitly declined (auto-subscribe off for them)
    warned_expiry: set[str] = field(default_factory=set)

    def can(self, privilege: Privilege, now: float) -> bool:
        return self.grant.has(privilege, now)

    def publication_by_cid(self, cid: str) -> Publication | None:
        return next((p for p in self.publications.values() if p.cid == cid), None)

    def info(self, now: float) -> sig.ParticipantInfo:
        return sig.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            role=self.grant.role.value,
            name=self.name,
            metadata=self.metadata,
            joined_at=self.joined_at,
            tracks=[p.info() for p in self.publications.values() if p.active],
            can_publish=self.can(Privilege.publish_audio, now) or self.can(Privilege.publish_video, now),
            can_subscribe=self.can(Privilege.subscribe, now),
        )


@dataclass(slots=True, eq=False)
class Room:
    sid: str
    app_id: str
    channel: str
    created_at: float
    participants: dict[str, Participant] = field(default_factory=dict)
    empty_since: float | None = None

    def by_identity(self, identity: str) -> Participant | None:
        return next((p for p in self.participants.values() if p.identity == identity), None)

    def publication(self, track_sid: str) -> tuple[Participant, Publication] | None:
        for p in self.participants.values():
            pub = p.publications.get(track_sid)
            if pub is not None:
                return p, pub
        return None

    def info(self) -> sig.RoomInfo:
        return sig.RoomInfo(sid=self.sid, channel=self.channel, created_at=self.created_at)

    def broadcast(self, message: sig.ServerMessage, *, exclude: Participant | None = None) -> None:
        for p in self.participants.values():
            if p is not exclude and p.state is ParticipantState.joined:
                p.outbox.send(message)
