"""Projects, their App Certificates and API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hubbub.api.deps import PrincipalDep, ServicesDep
from hubbub.api.schemas import (
    ApiKeyCreate,
    ApiKeyOut,
    ApiKeyWithSecret,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
    ProjectWithCertificate,
    RotateCertificate,
)
from hubbub.control.apikeys import ApiKeyView
from hubbub.control.errors import Conflict
from hubbub.control.projects import ProjectView
from hubbub.schema.signaling import LeaveReason

router = APIRouter(prefix="/projects", tags=["projects"])


def project_out(p: ProjectView) -> ProjectOut:
    return ProjectOut(
        app_id=p.app_id,
        name=p.name,
        token_required=p.token_required,
        insecure=p.insecure,
        certificate_created_at=p.certificate_created_at,
        previous_certificate_valid_until=p.previous_certificate_valid_until,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _with_certificate(p: ProjectView, certificate: str) -> ProjectWithCertificate:
    return ProjectWithCertificate(**project_out(p).model_dump(), app_certificate=certificate)


def _key_out(k: ApiKeyView) -> ApiKeyOut:
    return ApiKeyOut(key_id=k.key_id, name=k.name, created_at=k.created_at, last_used_at=k.last_used_at)


@router.get("", response_model=list[ProjectOut], summary="Projects visible to the caller")
async def list_projects(who: PrincipalDep, svc: ServicesDep) -> list[ProjectOut]:
    return [project_out(p) for p in await svc.projects.list_for(who)]


@router.post(
    "",
    status_code=201,
    response_model=ProjectWithCertificate,
    summary="Create a project (the App Certificate is shown only in this response)",
)
async def create_project(body: ProjectCreate, who: PrincipalDep, svc: ServicesDep) -> ProjectWithCertificate:
    project, certificate = await svc.projects.create(who, body.name, body.token_required)
    return _with_certificate(project, certificate)


@router.get("/{app_id}", response_model=ProjectOut)
async def get_project(app_id: str, who: PrincipalDep, svc: ServicesDep) -> ProjectOut:
    return project_out(await svc.projects.get_for(who, app_id))


@router.patch("/{app_id}", response_model=ProjectOut, summary="Rename, or switch token/testing mode")
async def update_project(app_id: str, body: ProjectUpdate, who: PrincipalDep, svc: ServicesDep) -> ProjectOut:
    return project_out(await svc.projects.update(who, app_id, name=body.name, token_required=body.token_required))


@router.delete(
    "/{app_id}",
    status_code=204,
    summary="Delete a project; refused while its channels are live unless force=true ends them",
)
async def delete_project(app_id: str, who: PrincipalDep, svc: ServicesDep, force: bool = False) -> Response:
    await svc.projects.get_for(who, app_id)  # isolation first: 404 for projects the caller cannot see
    live = svc.rooms.rooms_of(app_id) if svc.rooms is not None else []
    if live and not force:
        raise Conflict(
            "project_in_use",
            f"{len(live)} channel(s) of this project are live; end them first or delete with ?force=true.",
            live_channels=len(live),
        )
    for room in live:
        assert svc.rooms is not None
        svc.rooms.close_room(room.app_id, room.channel, LeaveReason.room_closed)
    await svc.projects.delete(who, app_id)
    return Response(status_code=204)


@router.post(
    "/{app_id}/certificate/rotate",
    response_model=ProjectWithCertificate,
    summary="New App Certificate; the old one verifies tokens during the grace period",
)
async def rotate_certificate(
    app_id: str, who: PrincipalDep, svc: ServicesDep, body: RotateCertificate | None = None
) -> ProjectWithCertificate:
    grace = body.grace_seconds if body else None
    project, certificate = await svc.projects.rotate_certificate(who, app_id, grace)
    return _with_certificate(project, certificate)


@router.get("/{app_id}/api-keys", response_model=list[ApiKeyOut], tags=["api keys"])
async def list_api_keys(app_id: str, who: PrincipalDep, svc: ServicesDep) -> list[ApiKeyOut]:
    return [_key_out(k) for k in await svc.api_keys.list_for(who, app_id)]


@router.post(
    "/{app_id}/api-keys",
    status_code=201,
    response_model=ApiKeyWithSecret,
    tags=["api keys"],
    summary="Create an API key for this project (its secret is shown only here)",
)
async def create_api_key(app_id: str, body: ApiKeyCreate, who: PrincipalDep, svc: ServicesDep) -> ApiKeyWithSecret:
    key, credential = await svc.api_keys.create(who, app_id, body.name)
    return ApiKeyWithSecret(**_key_out(key).model_dump(), api_key=credential)


@router.delete("/{app_id}/api-keys/{key_id}", status_code=204, tags=["api keys"])
async def revoke_api_key(app_id: str, key_id: str, who: PrincipalDep, svc: ServicesDep) -> Response:
    await svc.api_keys.revoke(who, app_id, key_id)
    return Response(status_code=204)
