"""Console accounts: sign-up, sign-in with argon2 hashes, cookie sessions with a CSRF token."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from hubbub.control.context import ControlContext
from hubbub.control.errors import Conflict, InvalidInput, RateLimited, Unauthorized
from hubbub.control.ratelimit import SlidingWindowLimiter
from hubbub.storage.models import Session, User

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

# OWASP's minimum argon2id profile (19 MiB, 2 passes): ~30 ms here, run off the event loop.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    email: str
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str  # goes into the HTTP-only cookie, never stored in clear
    csrf_token: str
    user: UserView
    expires_at: float


def _hash_session(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _view(user: User) -> UserView:
    return UserView(id=user.id, email=user.email, name=user.name, created_at=user.created_at)


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise InvalidInput("invalid_email", "That is not a valid email address.")
    return email


class Accounts:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx
        per_minute = ctx.settings.login_attempts_per_minute
        self._by_email = SlidingWindowLimiter(per_minute, 60.0)
        self._by_ip = SlidingWindowLimiter(per_minute * 5, 60.0)

    async def sign_up(self, email: str, password: str, name: str = "") -> UserView:
        email = normalize_email(email)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput("weak_password", f"Passwords must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long.")
        name = name.strip() or email.split("@", 1)[0]
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        async with self.ctx.db() as db:
            user = User(email=email, name=name[:100], password_hash=password_hash, created_at=self.ctx.clock())
            db.add(user)
            try:
                await db.commit()
            except IntegrityError:
                raise Conflict("email_taken", "An account with that email already exists.") from None
            return _view(user)

    async def sign_in(self, email: str, password: str, client: str) -> SignedIn:
        now = self.ctx.clock()
        email_key = email.strip().lower()
        wait = max(self._by_email.retry_after(email_key, now), self._by_ip.retry_after(client, now))
        if wait > 0:
            raise RateLimited("login_rate_limited", "Too many sign-in attempts; try again later.", wait)
        async with self.ctx.db() as db:
            user = (await db.execute(select(User).where(User.email == email_key))).scalar_one_or_none()
        ok = await asyncio.to_thread(_check_password, user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not ok:
            self._by_email.hit(email_key, now)
            self._by_ip.hit(client, now)
            raise Unauthorized("invalid_credentials", "Wrong email or password.")
        self._by_email.reset(email_key)
        session_id = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        expires = now + self.ctx.settings.session_ttl_s
        async with self.ctx.db() as db:
            db.add(
                Session(
                    id_hash=_hash_session(session_id),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                )
            )
            await db.commit()
        return SignedIn(session_id=session_id, csrf_token=csrf, user=_view(user), expires_at=expires)

    async def resolve_session(self, session_id: str) -> tuple[UserView, str] | None:
        """The user and CSRF token behind a session cookie, or None if unknown or expired."""
        if not session_id or len(session_id) > 128:
            return None
        now = self.ctx.clock()
        async with self.ctx.db() as db:
            row = (
                await db.execute(
                    select(Session, User)
                    .join(User, User.id == Session.user_id)
                    .where(Session.id_hash == _hash_session(session_id))
                )
            ).one_or_none()
            if row is None:
                return None
            session, user = row
            if session.expires_at <= now:
                await db.delete(session)
                await db.commit()
                return None
            return _view(user), session.csrf_token

    async def sign_out(self, session_id: str) -> None:
        async with self.ctx.db() as db:
            await db.execute(delete(Session).where(Session.id_hash == _hash_session(session_id)))
            await db.commit()


def _check_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
