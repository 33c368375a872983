"""Console sign-up and sign-in (session cookie + CSRF token)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from hubbub.api.deps import SESSION_COOKIE, ServicesDep, UserDep, client_address
from hubbub.api.schemas import SessionOut, SignIn, SignUp, UserOut
from hubbub.control.accounts import UserView

router = APIRouter(prefix="/auth", tags=["accounts"])


def _user(u: UserView) -> UserOut:
    return UserOut(id=u.id, email=u.email, name=u.name, created_at=u.created_at)


@router.post("/signup", status_code=201, response_model=UserOut, summary="Create a console account")
async def sign_up(body: SignUp, svc: ServicesDep) -> UserOut:
    return _user(await svc.accounts.sign_up(body.email, body.password, body.name))


@router.post("/login", response_model=SessionOut, summary="Sign in; sets an HTTP-only session cookie")
async def sign_in(body: SignIn, request: Request, response: Response, svc: ServicesDep) -> SessionOut:
    signed = await svc.accounts.sign_in(body.email, body.password, client_address(request))
    response.set_cookie(
        SESSION_COOKIE,
        signed.session_id,
        max_age=int(svc.settings.session_ttl_s),
        httponly=True,
        samesite="lax",
        secure=svc.settings.cookie_secure,
        path="/",
    )
    return SessionOut(user=_user(signed.user), csrf_token=signed.csrf_token, expires_at=signed.expires_at)


@router.post("/logout", status_code=204, summary="Sign out")
async def sign_out(request: Request, _user_dep: UserDep, svc: ServicesDep) -> Response:
    await svc.accounts.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=SessionOut, summary="The signed-in user and the CSRF token to send back")
async def me(user: UserDep) -> SessionOut:
    view, csrf = user
    return SessionOut(user=_user(view), csrf_token=csrf)
