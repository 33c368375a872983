"""Build Hubbub access tokens in your own backend (standard library only).

Your backend keeps the App Certificate secret and mints one short-lived token per user and channel;
clients present it when they join. The format is described in :mod:`hubbub.schema.tokens`: a JWT
(RFC 7519) in JWS Compact Serialization (RFC 7515 §7.1), HS256 (RFC 7518 §3.2), keyed with the UTF-8
bytes of the App Certificate.

This module and ``hubbub/schema/tokens.py`` depend on nothing outside the standard library: install
``hubbub`` (and import :func:`build_token` from :mod:`hubbub.sdk.token`), or copy both files into
your code base, keeping the ``hubbub/schema`` package path. The server's
:func:`hubbub.control.tokens.mint_token` calls this builder too.

>>> token = build_token("my-app-id", "0123456789abcdef0123456789abcdef", user_id="alice",
...                     channel="room1", role="host", privileges={"publish_audio": 600})
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping

from hubbub.schema.tokens import (
    ALGORITHM,
    CHANNEL_NAME_MAX,
    CLAIM_APP_ID,
    CLAIM_EXPIRES_AT,
    CLAIM_HUBBUB,
    CLAIM_ISSUED_AT,
    CLAIM_NOT_BEFORE,
    CLAIM_TOKEN_ID,
    CLAIM_USER_ID,
    DEFAULT_PRIVILEGES,
    HUBBUB_CHANNEL,
    HUBBUB_PRIVILEGES,
    HUBBUB_ROLE,
    HUBBUB_VERSION,
    LAYOUT_VERSION,
    MIN_CERTIFICATE_LENGTH,
    TOKEN_TYPE,
    USER_ID_MAX,
    Privilege,
    Role,
    b64url_encode,
    is_valid_channel,
    is_valid_user_id,
    parse_role,
)

__all__ = ["PrivilegeSpec", "build_token", "privilege_expiries"]

PrivilegeSpec = Mapping[Privilege | str, int] | Iterable[Privilege | str]
"""Privileges to grant: a mapping of privilege to its own lifetime in seconds, or an iterable of
privileges that all last as long as the token."""

_HEADER = {"alg": ALGORITHM, "typ": TOKEN_TYPE}


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _positive_seconds(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number of seconds, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return value


def _privilege(name: Privilege | str) -> Privilege:
    try:
        return Privilege(name)
    except ValueError:
        known = ", ".join(p.value for p in Privilege)
        raise ValueError(f"unknown privilege {name!r}; known privileges: {known}") from None


def privilege_expiries(
    privileges: PrivilegeSpec | None, *, role: Role, issued_at: int, expires_at: int
) -> dict[str, int]:
    """Absolute expiry (unix seconds) of each granted privilege, each capped at ``expires_at``.

    ``None`` grants the role's defaults (see :data:`DEFAULT_PRIVILEGES`) for the token's lifetime.
    """
    expiries: dict[str, int] = {}
    if privileges is None:
        for priv in sorted(DEFAULT_PRIVILEGES[role]):
            expiries[priv.value] = expires_at
    elif isinstance(privileges, Mapping):
        for name, lifetime in privileges.items():
            priv = _privilege(name)
            seconds = _positive_seconds(lifetime, f"lifetime of privilege {priv.value!r}")
            expiries[priv.value] = min(issued_at + seconds, expires_at)
    else:
        if isinstance(privileges, str):
            raise ValueError("privileges must be a mapping or an iterable of names, not a string")
        for name in privileges:
            expiries[_privilege(name).value] = expires_at
    return expiries


def build_token(
    app_id: str,
    app_certificate: str,
    *,
    user_id: str,
    channel: str = "*",
    role: Role | str = Role.host,
    expires_in: int = 3600,
    privileges: PrivilegeSpec | None = None,
    now: int | None = None,
    not_before: int | None = None,
) -> str:
    """Mint an access token for ``user_id`` in ``channel`` (``"*"``: any channel).

    ``expires_in`` is the token's lifetime in seconds from ``now`` (default: the current time).
    ``privileges`` maps each privilege to its own lifetime in seconds, capped at the token's; an
    iterable of names grants them for the token's whole lifetime; ``None`` grants the role's
    defaults. ``not_before`` (unix seconds) delays validity; it defaults to ``now``.

    Raises :class:`ValueError` with a message saying which input is wrong.
    """
    if not isinstance(app_id, str) or not app_id:
        raise ValueError("app_id must be a non-empty string")
    if not isinstance(app_certificate, str) or not app_certificate:
        raise ValueError("app_certificate must be a non-empty string")
    if len(app_certificate.encode("utf-8")) < MIN_CERTIFICATE_LENGTH:
        raise ValueError(
            f"app_certificate is too short: HS256 needs at least {MIN_CERTIFICATE_LENGTH} bytes "
            "(RFC 7518 §3.2); use the App Certificate from the console"
        )
    if not is_valid_user_id(user_id):
        raise ValueError(f"user_id must be a string of 1 to {USER_ID_MAX} characters")
    if not is_valid_channel(channel):
        raise ValueError(
            f"invalid channel name {channel!r}: use '*' or 1 to {CHANNEL_NAME_MAX} characters from "
            "letters, digits, space and !#$%&()+-:;<=.>?@[]^_{|}~,"
        )
    role_ = parse_role(role)
    lifetime = _positive_seconds(expires_in, "expires_in")
    issued_at = int(time.time()) if now is None else int(now)
    expires_at = issued_at + lifetime
    nbf = issued_at if not_before is None else int(not_before)
    if nbf >= expires_at:
        raise ValueError("not_before must be earlier than the token's expiry")
    claims = {
        CLAIM_APP_ID: app_id,
        CLAIM_USER_ID: user_id,
        CLAIM_ISSUED_AT: issued_at,
        CLAIM_NOT_BEFORE: nbf,
        CLAIM_EXPIRES_AT: expires_at,
        CLAIM_TOKEN_ID: secrets.token_urlsafe(12),
        CLAIM_HUBBUB: {
            HUBBUB_VERSION: LAYOUT_VERSION,
            HUBBUB_CHANNEL: channel,
            HUBBUB_ROLE: role_.value,
            HUBBUB_PRIVILEGES: privilege_expiries(privileges, role=role_, issued_at=issued_at, expires_at=expires_at),
        },
    }
    # RFC 7515 §5.1: signing input is ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
    signing_input = f"{b64url_encode(_json(_HEADER))}.{b64url_encode(_json(claims))}"
    signature = hmac.new(app_certificate.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(signature)}"
