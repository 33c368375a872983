"""Verify and mint access tokens (sans-I/O: the caller passes ``now``, unix seconds).

Theory of operation
===================

A token is a JWT (RFC 7519) signed with HS256 (RFC 7518 §3.2) by the project's App Certificate; the
claim layout is in :mod:`hubbub.schema.tokens`. :func:`verify_token` checks, in this order, and
stops at the first failure with a :class:`TokenError` whose ``code`` says why:

1. ``token_malformed``: not three base64url parts, bad JSON, a header other than ``alg: HS256``
   (``none`` and every asymmetric algorithm are refused, RFC 8725 §2.1/§3.1), a ``crit`` header
   (RFC 7515 §4.1.11), or missing or ill-typed claims.
2. ``token_unknown_app``: ``lookup(iss)`` knows no such project.
3. ``token_wrong_app``: the caller expected another App ID.
4. ``token_bad_signature``: the signature (RFC 7515 §5.2) matches neither the current certificate
   nor, during a rotation's grace period (``now <= previous_valid_until``), the previous one.
5. ``token_not_yet_valid``: ``nbf > now + leeway`` (RFC 7519 §4.1.5).
6. ``token_expired``: ``exp < now - leeway`` (RFC 7519 §4.1.4).
7. ``token_channel_mismatch``: the token names another channel (and not ``*``).
8. ``token_privilege_missing`` / ``token_privilege_expired``: for each required privilege.

Parsing is done here, strictly (canonical base64url with :func:`hubbub.schema.tokens.b64url_decode`,
JSON objects, one accepted header), in a single pass. PyJWT's ``jwt.decode`` is not used: its
alphabet check walks every character in Python, which made verification about 2.7x slower (7.8k
against 21k per second on one core), and the signature has to be checked after the App ID lookup
anyway. Time is never read from the wall clock: ``nbf``, ``exp`` and privilege expiries are
compared with the injected ``now``. The signature is checked with PyJWT's HS256 algorithm object,
which refuses asymmetric keys (PEM, SSH, DER) as HMAC secrets and compares in constant time; the
prepared key is cached per certificate.

Testing mode
============

A project with ``token_required=False`` (App-ID-only mode, for development) lets clients join with
the App ID alone: :func:`verify_app_only` grants the role's default privileges for 24 hours, with no
secret checked at all. Anyone who knows the App ID can join any channel: never ship it. Tokens are
still verified normally in such a project when a client presents one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import jwt
from jwt.algorithms import HMACAlgorithm

from hubbub.schema import jsonsafe
from hubbub.schema.token_builder import PrivilegeSpec, build_token
from hubbub.schema.tokens import (
    ALGORITHM,
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
    WILDCARD_CHANNEL,
    Privilege,
    Role,
    TokenErrorCode,
    b64url_decode,
    is_valid_channel,
    is_valid_user_id,
    parse_role,
)

__all__ = [
    "APP_ONLY_LIFETIME",
    "MAX_TOKEN_LENGTH",
    "AppKeys",
    "TokenError",
    "VerifiedToken",
    "mint_token",
    "unverified_app_id",
    "verify_app_only",
    "verify_token",
]

APP_ONLY_LIFETIME: Final = 24 * 3600.0
"""How long an App-ID-only (testing mode) grant lasts, in seconds."""
MAX_TOKEN_LENGTH: Final = 8192
"""Longer strings are refused before any parsing."""

_Code = TokenErrorCode
_HS256: Final = HMACAlgorithm(HMACAlgorithm.SHA256)
_PRIVILEGE_BY_NAME: Final[Mapping[object, Privilege]] = {p.value: p for p in Privilege}
_ROLE_BY_NAME: Final[Mapping[object, Role]] = {r.value: r for r in Role}
_MAX_SECONDS: Final = 2**53  # larger integers do not fit a float exactly


@dataclass(frozen=True, slots=True)
class AppKeys:
    """A project's token keys: its App ID and App Certificate, with an optional rotation in progress.

    During a rotation ``previous_certificate`` still verifies tokens while ``now <=
    previous_valid_until`` (the grace period); with no ``previous_valid_until`` it never does.
    ``token_required=False`` is testing mode (see :func:`verify_app_only`).
    """

    app_id: str
    certificate: str = field(repr=False)
    previous_certificate: str | None = field(default=None, repr=False)
    previous_valid_until: float | None = None
    token_required: bool = True

    def __post_init__(self) -> None:
        if not self.app_id:
            raise ValueError("app_id must not be empty")
        for name, cert in (
            ("certificate", self.certificate),
            ("previous_certificate", self.previous_certificate),
        ):
            if cert is None:
                continue
            if len(cert.encode("utf-8")) < MIN_CERTIFICATE_LENGTH:
                raise ValueError(f"{name} must be at least {MIN_CERTIFICATE_LENGTH} bytes for HS256 (RFC 7518 §3.2)")
            try:
                _hmac_key(cert)
            except jwt.InvalidKeyError:
                raise ValueError(f"{name} looks like an asymmetric key, not an App Certificate") from None

    def certificates_at(self, now: float) -> tuple[str, ...]:
        """The certificates that verify tokens at ``now``: current first, then the previous one."""
        if (
            self.previous_certificate is not None
            and self.previous_valid_until is not None
            and now <= self.previous_valid_until
        ):
            return (self.certificate, self.previous_certificate)
        return (self.certificate,)


class TokenError(Exception):
    """A refused token. ``message`` is for humans and never contains the token or a certificate."""

    def __init__(self, code: TokenErrorCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What a verified token grants. Times are unix seconds."""

    app_id: str
    user_id: str
    channel: str
    role: Role
    privileges: Mapping[Privilege, float]
    issued_at: float
    not_before: float
    expires_at: float
    token_id: str

    def has(self, priv: Privilege, now: float, *, leeway: float = 0.0) -> bool:
        """Whether ``priv`` is granted and not yet expired at ``now``."""
        expiry = self.privileges.get(priv)
        return expiry is not None and expiry >= now - leeway

    def require(self, priv: Privilege, now: float, *, leeway: float = 0.0) -> None:
        """Raise ``token_privilege_missing`` or ``token_privilege_expired`` unless :meth:`has`."""
        expiry = self.privileges.get(priv)
        if expiry is None:
            raise TokenError(_Code.token_privilege_missing, f"the token does not grant the {priv.value} privilege")
        if expiry < now - leeway:
            raise TokenError(
                _Code.token_privilege_expired,
                f"the {priv.value} privilege expired {_ago(now - expiry)}; renew the token",
            )

    def expiring(self, now: float, within: float) -> list[tuple[str, float]]:
        """What expires in ``[now, now + within]``: ``("token", exp)`` and ``(privilege, expiry)``.

        Sorted by expiry; signaling sends clients a warning with it so they renew in time.
        """
        horizon = now + within
        soon: list[tuple[str, float]] = []
        if now <= self.expires_at <= horizon:
            soon.append(("token", self.expires_at))
        soon.extend((p.value, t) for p, t in self.privileges.items() if now <= t <= horizon)
        soon.sort(key=lambda item: (item[1], item[0]))
        return soon


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s ago"


def _malformed(why: str) -> TokenError:
    return TokenError(_Code.token_malformed, f"the token is malformed: {why}")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    # RFC 7519 §2 NumericDate: a JSON number of seconds since the epoch (bool is not a number).
    if (type(value) is int and abs(value) <= _MAX_SECONDS) or (type(value) is float and math.isfinite(value)):
        return float(value)
    raise _malformed(f"claim {name!r} must be a number of seconds since the epoch")


def _parse(token: str) -> tuple[bytes, bytes, VerifiedToken]:
    """Split and decode without checking the signature; refuse anything not shaped like our tokens.

    Returns the JWS signing input (RFC 7515 §5.2), the signature and the decoded grant.
    """
    if not isinstance(token, str) or not token:
        raise _malformed("expected a non-empty string")
    parts = token.split(".")
    if len(token) > MAX_TOKEN_LENGTH or len(parts) != 3:
        raise _malformed("expected a JWT: three base64url parts separated by dots (RFC 7515 §7.1)")
    try:
        header = jsonsafe.loads(b64url_decode(parts[0]))
        claims = jsonsafe.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, RecursionError):
        raise _malformed("not valid base64url-encoded JSON (RFC 7515 §7.1)") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _malformed("the header and the payload must be JSON objects (RFC 7519 §7.2)")
    if header.get("alg") != ALGORITHM:
        raise _malformed(f"only alg {ALGORITHM} is accepted (RFC 7515 §4.1.1, RFC 8725 §3.1)")
    if "crit" in header or "b64" in header:
        raise _malformed("critical header extensions are not supported (RFC 7515 §4.1.11)")
    signing_input = token[: len(parts[0]) + 1 + len(parts[1])].encode("ascii")
    return signing_input, signature, _claims_to_token(claims)


def unverified_app_id(token: str) -> str:
    """The App ID a token names, before any check: to find the keys to verify it with.

    Raises ``token_malformed`` like :func:`verify_token` would.
    """
    return _parse(token)[2].app_id


def _claims_to_token(claims: Mapping[str, Any]) -> VerifiedToken:
    app_id = claims.get(CLAIM_APP_ID)
    if not isinstance(app_id, str) or not app_id:
        raise _malformed("claim 'iss' (App ID) must be a non-empty string")
    user_id = claims.get(CLAIM_USER_ID)
    if not is_valid_user_id(user_id):
        raise _malformed("claim 'sub' (user id) must be a string of 1 to 255 characters")
    token_id = claims.get(CLAIM_TOKEN_ID, "")
    if not isinstance(token_id, str):
        raise _malformed("claim 'jti' must be a string")
    issued_at = _number(claims, CLAIM_ISSUED_AT)
    not_before = _number(claims, CLAIM_NOT_BEFORE)
    expires_at = _number(claims, CLAIM_EXPIRES_AT)
    grant = claims.get(CLAIM_HUBBUB)
    if not isinstance(grant, dict) or grant.get(HUBBUB_VERSION) != LAYOUT_VERSION:
        raise _malformed(f"claim 'hubbub' must be an object with v={LAYOUT_VERSION}")
    channel = grant.get(HUBBUB_CHANNEL)
    if not is_valid_channel(channel):
        raise _malformed("claim 'hubbub.ch' is not a valid channel name")
    role_name = grant.get(HUBBUB_ROLE)
    role = _ROLE_BY_NAME.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        raise _malformed("claim 'hubbub.role' is not a known role")
    raw_privileges = grant.get(HUBBUB_PRIVILEGES)
    if not isinstance(raw_privileges, dict):
        raise _malformed("claim 'hubbub.priv' must be an object")
    privileges: dict[Privilege, float] = {}
    for name in raw_privileges:
        priv = _PRIVILEGE_BY_NAME.get(name)
        if priv is None:
            raise _malformed("claim 'hubbub.priv' names an unknown privilege")
        privileges[priv] = min(_number(raw_privileges, name), expires_at)
    assert isinstance(user_id, str) and isinstance(channel, str)
    return VerifiedToken(
        app_id=app_id,
        user_id=user_id,
        channel=channel,
        role=role,
        privileges=MappingProxyType(privileges),
        issued_at=issued_at,
        not_before=not_before,
        expires_at=expires_at,
        token_id=token_id,
    )


@functools.lru_cache(maxsize=4096)
def _hmac_key(certificate: str) -> bytes:
    """The certificate as an HS256 key; PyJWT refuses PEM, SSH and DER keys (RFC 8725 §3.1)."""
    key: bytes = _HS256.prepare_key(certificate)
    return key


def _signed_by(signing_input: bytes, signature: bytes, certificate: str) -> bool:
    """RFC 7515 §5.2 step 8 / RFC 7518 §3.2: constant-time HMAC-SHA256 comparison."""
    try:
        key = _hmac_key(certificate)
    except jwt.InvalidKeyError:
        return False
    return bool(_HS256.verify(signing_input, key, signature))


def verify_token(
    token: str,
    *,
    lookup: Callable[[str], AppKeys | None],
    now: float,
    leeway: float = 5.0,
    expected_app_id: str | None = None,
    channel: str | None = None,
    require: Iterable[Privilege] = (),
) -> VerifiedToken:
    """Verify ``token`` at time ``now`` and return what it grants, or raise :class:`TokenError`.

    ``lookup`` maps an App ID to its keys (``None``: no such project). ``leeway`` absorbs clock
    skew between the minting backend and this server for ``nbf``, ``exp`` and privilege expiries.
    ``channel`` is the channel being joined; ``require`` the privileges the caller needs now.
    """
    signing_input, signature, verified = _parse(token)
    keys = lookup(verified.app_id)
    if keys is None:
        raise TokenError(_Code.token_unknown_app, "no project has the App ID this token names")
    if expected_app_id is not None and verified.app_id != expected_app_id:
        raise TokenError(_Code.token_wrong_app, "the token was issued for another App ID")
    if not any(_signed_by(signing_input, signature, c) for c in keys.certificates_at(now)):
        raise TokenError(
            _Code.token_bad_signature,
            "the signature does not match the project's App Certificate "
            "(wrong certificate, a rotated-out certificate, or an altered token)",
        )
    if verified.not_before > now + leeway:
        raise TokenError(
            _Code.token_not_yet_valid,
            f"the token is not valid for another {verified.not_before - now:.0f} s (check the minting server's clock)",
        )
    if verified.expires_at < now - leeway:
        raise TokenError(_Code.token_expired, f"the token expired {_ago(now - verified.expires_at)}; mint a new one")
    if channel is not None and verified.channel not in (WILDCARD_CHANNEL, channel):
        raise TokenError(_Code.token_channel_mismatch, f"the token is for another channel, not {channel!r}")
    for priv in require:
        verified.require(priv, now, leeway=leeway)
    return verified


def verify_app_only(
    app_id: str,
    user_id: str,
    channel: str,
    lookup: Callable[[str], AppKeys | None],
    now: float,
    *,
    role: Role | str = Role.host,
) -> VerifiedToken:
    """Admit a client that gave no token, if its project is in testing mode (App ID only).

    Grants ``role``'s default privileges for :data:`APP_ONLY_LIFETIME` (24 h). Raises
    ``token_unknown_app`` for an unknown App ID and ``token_required`` when the project requires
    tokens; a bad user id, channel or role is ``token_malformed``.
    """
    keys = lookup(app_id)
    if keys is None:
        raise TokenError(_Code.token_unknown_app, "no project has this App ID")
    if keys.token_required:
        raise TokenError(_Code.token_required, "this project requires a token; App-ID-only joining is disabled")
    if not is_valid_user_id(user_id):
        raise _malformed("the user id must be a string of 1 to 255 characters")
    if not is_valid_channel(channel):
        raise _malformed("not a valid channel name")
    try:
        role_ = parse_role(role)
    except ValueError:
        raise _malformed("not a known role") from None
    expires_at = now + APP_ONLY_LIFETIME
    return VerifiedToken(
        app_id=app_id,
        user_id=user_id,
        channel=channel,
        role=role_,
        privileges=MappingProxyType(dict.fromkeys(sorted(DEFAULT_PRIVILEGES[role_]), expires_at)),
        issued_at=now,
        not_before=now,
        expires_at=expires_at,
        token_id="",
    )


def mint_token(
    keys: AppKeys,
    *,
    user_id: str,
    channel: str = WILDCARD_CHANNEL,
    role: Role | str = Role.host,
    expires_in: int = 3600,
    privileges: PrivilegeSpec | None = None,
    now: float,
) -> str:
    """Mint a token with the project's current certificate (the server side of the SDK builder).

    Raises :class:`ValueError` for invalid inputs, as :func:`hubbub.schema.token_builder.build_token`
    does.
    """
    return build_token(
        keys.app_id,
        keys.certificate,
        user_id=user_id,
        channel=channel,
        role=role,
        expires_in=expires_in,
        privileges=privileges,
        now=int(now),
    )
