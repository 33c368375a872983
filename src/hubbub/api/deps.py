"""Request dependencies: who is calling (a console session or an API key) and CSRF checks."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from hubbub.api.services import Services
from hubbub.control.accounts import UserView
from hubbub.control.context import Principal, UserPrincipal
from hubbub.control.errors import Forbidden, Unauthorized

SESSION_COOKIE = "hubbub_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_user(request: Request, svc: ServicesDep) -> tuple[UserView, str]:
    """The signed-in console user and their CSRF token; unsafe methods must echo the token."""
    session_id = request.cookies.get(SESSION_COOKIE, "")
    resolved = await svc.accounts.resolve_session(session_id) if session_id else None
    if resolved is None:
        raise Unauthorized("unauthenticated", "Sign in first (or send an API key as a Bearer token).")
    user, csrf = resolved
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, csrf):
            raise Forbidden("csrf_failed", "Missing or wrong X-CSRF-Token header for a cookie-authenticated request.")
    return user, csrf


async def principal(request: Request, svc: ServicesDep) -> Principal:
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("unauthenticated", "Use 'Authorization: Bearer <key_id>.<secret>'.")
        found = await svc.api_keys.authenticate(credential.strip())
        if found is None:
            raise Unauthorized("invalid_api_key", "The API key is unknown, revoked or wrong.")
        return found
    user, _ = await current_user(request, svc)
    return UserPrincipal(user.id)


PrincipalDep = Annotated[Principal, Depends(principal)]
UserDep = Annotated[tuple[UserView, str], Depends(current_user)]
