"""Minting and checking access tokens for a project's channels."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import APIRouter

from hubbub.api.deps import PrincipalDep, ServicesDep
from hubbub.api.schemas import TokenCreate, TokenOut, TokenVerify
from hubbub.control.errors import InvalidInput, NotFound
from hubbub.control.tokens import AppKeys, TokenError, VerifiedToken, mint_token, verify_token
from hubbub.schema.tokens import Privilege, Role, is_valid_channel

router = APIRouter(prefix="/projects", tags=["tokens"])


def _out(token: str, v: VerifiedToken) -> TokenOut:
    return TokenOut(
        token=token,
        app_id=v.app_id,
        user_id=v.user_id,
        channel=v.channel,
        role=v.role.value,
        expires_at=v.expires_at,
        privileges={p.value: t for p, t in v.privileges.items()},
    )


async def _keys(svc: ServicesDep, who: PrincipalDep, app_id: str) -> AppKeys:
    await svc.projects.project_id_for(who, app_id)  # isolation check first
    keys = await svc.projects.app_keys(app_id)
    if keys is None:  # deleted in between
        raise NotFound("project_not_found", f"No project with App ID {app_id!r} is visible to you.")
    return keys


def _lookup_only(keys: AppKeys) -> Callable[[str], AppKeys | None]:
    """A lookup that knows this one project; any other App ID gets a decoy so the answer is
    ``token_wrong_app`` whether or not that project exists (no probing across projects)."""
    decoy = secrets.token_hex(32)

    def lookup(app_id: str) -> AppKeys:
        return keys if app_id == keys.app_id else AppKeys(app_id=app_id, certificate=decoy)

    return lookup


def _check_grant(body: TokenCreate) -> None:
    """Name the wrong input with its own code (as the verify endpoint does for privileges)."""
    if body.role not in Role.__members__:
        raise InvalidInput("invalid_role", f"Unknown role {body.role!r}; known roles: {', '.join(Role)}.")
    if not is_valid_channel(body.channel):
        raise InvalidInput(
            "invalid_channel",
            "A channel is '*' or 1 to 64 characters from letters, digits, space and !#$%&()+-:;<=.>?@[]^_{|}~,",
        )
    unknown = [p for p in (body.privileges or ()) if p not in Privilege.__members__]
    if unknown:
        raise InvalidInput(
            "invalid_privilege", f"Unknown privilege {unknown[0]!r}; known privileges: {', '.join(Privilege)}."
        )


@router.post(
    "/{app_id}/tokens",
    status_code=201,
    response_model=TokenOut,
    summary="Mint an access token for a user (signed with the current App Certificate)",
)
async def create_token(app_id: str, body: TokenCreate, who: PrincipalDep, svc: ServicesDep) -> TokenOut:
    keys = await _keys(svc, who, app_id)
    _check_grant(body)
    now = svc.clock()
    try:
        token = mint_token(
            keys,
            user_id=body.user_id,
            channel=body.channel,
            role=body.role,
            expires_in=body.expire,
            privileges=body.privileges,
            now=now,
        )
    except ValueError as exc:
        raise InvalidInput("invalid_token_request", str(exc)) from None
    verified = verify_token(token, lookup=lambda _a: keys, now=now)
    return _out(token, verified)


@router.post(
    "/{app_id}/tokens/verify",
    response_model=TokenOut,
    summary="Check a token as a join would; a refusal is a 422 problem with the token error code",
)
async def check_token(app_id: str, body: TokenVerify, who: PrincipalDep, svc: ServicesDep) -> TokenOut:
    keys = await _keys(svc, who, app_id)
    try:
        required = [Privilege(p) for p in body.require]
    except ValueError:
        raise InvalidInput("invalid_privilege", f"Known privileges: {', '.join(p.value for p in Privilege)}.") from None
    try:
        verified = verify_token(
            body.token,
            lookup=_lookup_only(keys),
            now=svc.clock(),
            leeway=svc.settings.token_leeway_s,
            expected_app_id=app_id,
            channel=body.channel,
            require=required,
        )
    except TokenError as exc:
        raise InvalidInput(exc.code.value, exc.message) from None
    return _out(body.token, verified)
