"""Access tokens: roles, privileges, error codes and the claim layout (shared by SDK and server).

This module is standard library only: the token builder (``hubbub/schema/token_builder.py``), the
server verifier and the CLI all import it, and a customer's backend may copy it together with the
builder.

Token format
============

A Hubbub access token is a JSON Web Token (RFC 7519) in JWS Compact Serialization (RFC 7515 §7.1),
signed with HMAC-SHA256 (``HS256``, RFC 7518 §3.2) using the UTF-8 bytes of the project's App
Certificate as the key. The protected header is exactly ``{"alg": "HS256", "typ": "JWT"}``
(RFC 7515 §4.1.1, RFC 7519 §5.1); any other ``alg`` (``none`` included) is rejected.

Claims (RFC 7519 §4.1 registered names, plus one private claim, RFC 7519 §4.3)::

    {
      "iss": "<app id>",                   # §4.1.1 the project (App ID) that issued the token
      "sub": "<user id>",                  # §4.1.2 string, 1..255 characters
      "iat": 1700000000,                   # §4.1.6 issued at, NumericDate (unix seconds)
      "nbf": 1700000000,                   # §4.1.5 not valid before
      "exp": 1700003600,                   # §4.1.4 not valid after
      "jti": "Zq3...",                     # §4.1.7 random token id
      "hubbub": {
        "v": 1,                            # claim layout version
        "ch": "room1",                     # channel name, or "*" for any channel
        "role": "host",                    # host | audience | agent | admin
        "priv": {                          # privilege -> absolute expiry, unix seconds
          "join_channel": 1700003600,      #   each capped at "exp"
          "publish_audio": 1700000600
        }
      }
    }

A privilege absent from ``priv`` is not granted. A privilege whose expiry has passed is expired: the
user keeps what needs only the other privileges (a host whose ``publish_audio`` expired stays in the
channel, muted) until it renews the token.

Channel names are 1..64 characters from ``[A-Za-z0-9 !#$%&()+-:;<=.>?@[]^_{|}~,]`` (the same set as
Agora's), or ``*`` alone meaning any channel.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Protocol

__all__ = [
    "ALGORITHM",
    "CHANNEL_NAME_MAX",
    "CLAIM_APP_ID",
    "CLAIM_EXPIRES_AT",
    "CLAIM_HUBBUB",
    "CLAIM_ISSUED_AT",
    "CLAIM_NOT_BEFORE",
    "CLAIM_TOKEN_ID",
    "CLAIM_USER_ID",
    "DEFAULT_PRIVILEGES",
    "HUBBUB_CHANNEL",
    "HUBBUB_PRIVILEGES",
    "HUBBUB_ROLE",
    "HUBBUB_VERSION",
    "LAYOUT_VERSION",
    "MIN_CERTIFICATE_LENGTH",
    "TOKEN_TYPE",
    "USER_ID_MAX",
    "WILDCARD_CHANNEL",
    "Privilege",
    "Role",
    "TokenErrorCode",
    "b64url_decode",
    "b64url_encode",
    "is_valid_channel",
    "is_valid_user_id",
    "parse_role",
]


class Role(StrEnum):
    """What a participant is in a channel; decides the default privileges."""

    host = "host"
    audience = "audience"
    agent = "agent"
    admin = "admin"


class Privilege(StrEnum):
    """One capability a token grants, each with its own expiry."""

    join_channel = "join_channel"
    publish_audio = "publish_audio"
    publish_video = "publish_video"
    publish_data = "publish_data"
    subscribe = "subscribe"
    rtm_login = "rtm_login"
    room_admin = "room_admin"


class TokenErrorCode(StrEnum):
    """Why a token was refused. The values are stable: clients and dashboards match on them.

    Each member's name equals its value, as for :class:`Role` and :class:`Privilege`.
    """

    token_malformed = "token_malformed"
    token_bad_signature = "token_bad_signature"
    token_unknown_app = "token_unknown_app"
    token_wrong_app = "token_wrong_app"
    token_expired = "token_expired"
    token_not_yet_valid = "token_not_yet_valid"
    token_channel_mismatch = "token_channel_mismatch"
    token_privilege_missing = "token_privilege_missing"
    token_privilege_expired = "token_privilege_expired"
    token_required = "token_required"
    """No token was given but the project requires one (it is not in testing mode)."""


_ALL: Final = frozenset(Privilege)
_AUDIENCE: Final = frozenset({Privilege.join_channel, Privilege.subscribe, Privilege.rtm_login, Privilege.publish_data})
_PUBLISHER: Final = _ALL - {Privilege.room_admin}

DEFAULT_PRIVILEGES: Final[Mapping[Role, frozenset[Privilege]]] = MappingProxyType(
    {
        Role.host: _PUBLISHER,
        Role.audience: _AUDIENCE,
        Role.agent: _PUBLISHER,
        Role.admin: _ALL,
    }
)
"""The privileges a token grants for each role when the issuer names none."""

# JOSE header (RFC 7515 §4.1.1 "alg", RFC 7519 §5.1 "typ").
ALGORITHM: Final = "HS256"
TOKEN_TYPE: Final = "JWT"

# Registered claim names (RFC 7519 §4.1).
CLAIM_APP_ID: Final = "iss"
CLAIM_USER_ID: Final = "sub"
CLAIM_ISSUED_AT: Final = "iat"
CLAIM_NOT_BEFORE: Final = "nbf"
CLAIM_EXPIRES_AT: Final = "exp"
CLAIM_TOKEN_ID: Final = "jti"

# The private claim (RFC 7519 §4.3) and its members.
CLAIM_HUBBUB: Final = "hubbub"
HUBBUB_VERSION: Final = "v"
HUBBUB_CHANNEL: Final = "ch"
HUBBUB_ROLE: Final = "role"
HUBBUB_PRIVILEGES: Final = "priv"
LAYOUT_VERSION: Final = 1

WILDCARD_CHANNEL: Final = "*"
CHANNEL_NAME_MAX: Final = 64
USER_ID_MAX: Final = 255
MIN_CERTIFICATE_LENGTH: Final = 32
"""HS256 keys must be at least as long as the hash output, 256 bits (RFC 7518 §3.2)."""

_CHANNEL_RE: Final = re.compile(r"[A-Za-z0-9 !#$%&()+\-:;<=.>?@\[\]^_{|}~,]{1,64}")
_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]*")


def is_valid_channel(channel: object) -> bool:
    """Whether ``channel`` is ``*`` or a legal channel name (1..64 characters of the allowed set)."""
    if not isinstance(channel, str):
        return False
    return channel == WILDCARD_CHANNEL or _CHANNEL_RE.fullmatch(channel) is not None


def is_valid_user_id(user_id: object) -> bool:
    """Whether ``user_id`` is a string of 1..255 characters."""
    return isinstance(user_id, str) and 1 <= len(user_id) <= USER_ID_MAX


def parse_role(name: Role | str) -> Role:
    """The :class:`Role` called ``name``; :class:`ValueError` naming the known roles otherwise."""
    try:
        return Role(name)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {name!r}; known roles: {known}") from None


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2, "Base64url Encoding")."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict base64url (RFC 7515 §2): no padding, alphabet only, canonical trailing bits.

    Raises :class:`ValueError` for anything :func:`b64url_encode` would not have written.
    """
    if len(segment) % 4 == 1 or _B64URL_RE.fullmatch(segment) is None:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if b64url_encode(data) != segment:
        raise ValueError("non-canonical base64url")
    return data


class Grant(Protocol):
    """What a verified token grants, as the server's layers see it
    (``hubbub.control.tokens.VerifiedToken`` is one)."""

    @property
    def app_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def expires_at(self) -> float: ...
    @property
    def privileges(self) -> Mapping[Privilege, float]: ...
    def has(self, priv: Privilege, now: float, *, leeway: float = 0.0) -> bool: ...
    def expiring(self, now: float, within: float) -> list[tuple[str, float]]: ...
