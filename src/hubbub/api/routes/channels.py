"""Live channels of a project: who is in them, and the moderator's tools (kick, mute a track, end).

Every route needs an admin of the project: its console owner (session cookie + CSRF header) or an
API key of that project. Isolation comes first: a project the caller cannot see is a 404
``project_not_found``, whether or not it exists, before anything about its channels is looked up.
Channel names are path segments; clients percent-encode them (``#`` and ``?`` are valid in names).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from hubbub.api.deps import PrincipalDep, ServicesDep
from hubbub.api.schemas import Strict
from hubbub.control.errors import NotFound
from hubbub.rooms.model import Participant, Publication, Room
from hubbub.schema.signaling import LeaveReason

router = APIRouter(prefix="/projects", tags=["channels"])


class TrackOut(BaseModel):
    sid: str
    kind: str = Field(description="audio or video")
    source: str = Field(description="microphone, camera, screen, screen_audio or unknown")
    name: str
    muted: bool
    active: bool = Field(description="False until the publisher's media is negotiated")
    mime_type: str
    width: int
    height: int


class ParticipantOut(BaseModel):
    sid: str
    identity: str
    name: str
    role: str
    state: str = Field(description="joined, or disconnected (inside the reconnect window)")
    joined_at: float
    tracks: list[TrackOut]


class ChannelSummary(BaseModel):
    channel: str
    sid: str
    created_at: float
    participants: int
    publishers: int = Field(description="Participants publishing at least one track")
    tracks: int


class ChannelOut(BaseModel):
    channel: str
    sid: str
    created_at: float
    participants: list[ParticipantOut]


class KickBody(Strict):
    reason: Annotated[str, Field(max_length=256)] = ""


class MuteBody(Strict):
    muted: bool = True


def _track(pub: Publication) -> TrackOut:
    return TrackOut(
        sid=pub.sid,
        kind=pub.kind.value,
        source=pub.source.value,
        name=pub.name,
        muted=pub.muted,
        active=pub.active,
        mime_type=pub.mime_type,
        width=pub.width,
        height=pub.height,
    )


def _participant(p: Participant) -> ParticipantOut:
    return ParticipantOut(
        sid=p.sid,
        identity=p.identity,
        name=p.name,
        role=p.grant.role.value,
        state=p.state.value,
        joined_at=p.joined_at,
        tracks=[_track(pub) for pub in p.publications.values()],
    )


def _summary(room: Room) -> ChannelSummary:
    people = list(room.participants.values())
    return ChannelSummary(
        channel=room.channel,
        sid=room.sid,
        created_at=room.created_at,
        participants=len(people),
        publishers=sum(1 for p in people if p.publications),
        tracks=sum(len(p.publications) for p in people),
    )


def _channel_not_found(channel: str) -> NotFound:
    return NotFound("channel_not_found", f"No one is in channel {channel!r} of this project right now.")


async def _live_room(svc: ServicesDep, who: PrincipalDep, app_id: str, channel: str) -> Room:
    await svc.projects.project_id_for(who, app_id)  # isolation first: 404 for projects the caller cannot see
    room = svc.rooms.room(app_id, channel) if svc.rooms is not None else None
    if room is None:
        raise _channel_not_found(channel)
    return room


@router.get(
    "/{app_id}/channels",
    response_model=list[ChannelSummary],
    summary="Live channels of the project, with participant counts (busiest first)",
)
async def list_channels(app_id: str, who: PrincipalDep, svc: ServicesDep) -> list[ChannelSummary]:
    await svc.projects.project_id_for(who, app_id)
    rooms = svc.rooms.rooms_of(app_id) if svc.rooms is not None else []
    summaries = [_summary(r) for r in rooms]
    summaries.sort(key=lambda s: (-s.participants, s.channel))
    return summaries


@router.get(
    "/{app_id}/channels/{channel}",
    response_model=ChannelOut,
    summary="A live channel's participants and their tracks",
)
async def get_channel(app_id: str, channel: str, who: PrincipalDep, svc: ServicesDep) -> ChannelOut:
    room = await _live_room(svc, who, app_id, channel)
    people = sorted(room.participants.values(), key=lambda p: (p.joined_at, p.sid))
    return ChannelOut(
        channel=room.channel,
        sid=room.sid,
        created_at=room.created_at,
        participants=[_participant(p) for p in people],
    )


@router.post(
    "/{app_id}/channels/{channel}/participants/{identity}/kick",
    status_code=204,
    summary="Remove a participant; its client gets `kicked` with the reason, the others `participant_left`",
)
async def kick_participant(
    app_id: str, channel: str, identity: str, who: PrincipalDep, svc: ServicesDep, body: KickBody | None = None
) -> Response:
    await _live_room(svc, who, app_id, channel)
    assert svc.rooms is not None
    if not svc.rooms.kick(app_id, channel, identity, body.reason if body else ""):
        raise NotFound("participant_not_found", f"No participant {identity!r} is in channel {channel!r}.")
    return Response(status_code=204)


@router.post(
    "/{app_id}/channels/{channel}/tracks/{track_sid}/mute",
    response_model=TrackOut,
    summary="Server-side mute: stop forwarding a track and tell everyone, the publisher included",
)
async def mute_track(
    app_id: str, channel: str, track_sid: str, body: MuteBody, who: PrincipalDep, svc: ServicesDep
) -> TrackOut:
    await _live_room(svc, who, app_id, channel)
    assert svc.rooms is not None
    pub = svc.rooms.admin_mute(app_id, channel, track_sid, body.muted)
    if pub is None:
        raise NotFound("track_not_found", f"No track {track_sid!r} is published in channel {channel!r}.")
    return _track(pub)


@router.delete(
    "/{app_id}/channels/{channel}",
    status_code=204,
    summary="End a channel: everyone in it gets `kicked` with reason `room_closed`",
)
async def end_channel(app_id: str, channel: str, who: PrincipalDep, svc: ServicesDep) -> Response:
    await _live_room(svc, who, app_id, channel)
    assert svc.rooms is not None
    svc.rooms.close_room(app_id, channel, LeaveReason.room_closed)
    return Response(status_code=204)
