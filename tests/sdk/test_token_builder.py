from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import pytest

from hubbub.schema.tokens import DEFAULT_PRIVILEGES, Privilege, Role
from hubbub.sdk.token import build_token

APP_ID = "app-123"
CERT = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000


def _segment(token: str, index: int) -> Any:
    part = token.split(".")[index]
    assert "=" not in part  # RFC 7515 §2: no padding
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = _segment(token, 1)
    return claims


def test_header_claims_and_signature() -> None:
    token = build_token(APP_ID, CERT, user_id="alice", channel="room1", now=NOW)
    assert _segment(token, 0) == {"alg": "HS256", "typ": "JWT"}
    claims = _claims(token)
    assert claims["iss"] == APP_ID
    assert claims["sub"] == "alice"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 3600)
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["hubbub"] == {
        "v": 1,
        "ch": "room1",
        "role": "host",
        "priv": {p.value: NOW + 3600 for p in DEFAULT_PRIVILEGES[Role.host]},
    }
    signing_input, signature = token.rsplit(".", 1)
    expected = hmac.new(CERT.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "=") == expected


def test_token_ids_are_random() -> None:
    first = _claims(build_token(APP_ID, CERT, user_id="u", now=NOW))
    second = _claims(build_token(APP_ID, CERT, user_id="u", now=NOW))
    assert first["jti"] != second["jti"]


@pytest.mark.parametrize("role", list(Role))
def test_role_defaults(role: Role) -> None:
    claims = _claims(build_token(APP_ID, CERT, user_id="u", role=role.value, now=NOW))
    assert claims["hubbub"]["role"] == role.value
    assert set(claims["hubbub"]["priv"]) == {p.value for p in DEFAULT_PRIVILEGES[role]}


def test_per_privilege_lifetimes_are_capped_at_the_token() -> None:
    claims = _claims(
        build_token(
            APP_ID,
            CERT,
            user_id="u",
            expires_in=3600,
            privileges={Privilege.join_channel: 7200, "publish_audio": 600},
            now=NOW,
        )
    )
    assert claims["hubbub"]["priv"] == {"join_channel": NOW + 3600, "publish_audio": NOW + 600}


def test_iterable_privileges_last_as_long_as_the_token() -> None:
    claims = _claims(build_token(APP_ID, CERT, user_id="u", privileges=["subscribe", Privilege.rtm_login], now=NOW))
    assert claims["hubbub"]["priv"] == {"subscribe": NOW + 3600, "rtm_login": NOW + 3600}


def test_not_before() -> None:
    claims = _claims(build_token(APP_ID, CERT, user_id="u", now=NOW, not_before=NOW + 60))
    assert claims["nbf"] == NOW + 60
    with pytest.raises(ValueError, match="not_before"):
        build_token(APP_ID, CERT, user_id="u", now=NOW, expires_in=60, not_before=NOW + 60)


def test_uses_the_wall_clock_by_default() -> None:
    import time

    before = int(time.time())
    claims = _claims(build_token(APP_ID, CERT, user_id="u"))
    assert before <= claims["iat"] <= int(time.time())


def test_non_ascii_user_id_round_trips() -> None:
    assert _claims(build_token(APP_ID, CERT, user_id="José 🎤", now=NOW))["sub"] == "José 🎤"


BAD: list[tuple[Mapping[str, Any], str]] = [
    ({"app_id": ""}, "app_id"),
    ({"app_certificate": ""}, "app_certificate"),
    ({"app_certificate": "short"}, "too short"),
    ({"user_id": ""}, "user_id"),
    ({"user_id": "x" * 256}, "user_id"),
    ({"channel": ""}, "channel"),
    ({"channel": "x" * 65}, "channel"),
    ({"channel": "a/b"}, "channel"),
    ({"role": "owner"}, "unknown role 'owner'"),
    ({"expires_in": 0}, "expires_in must be positive"),
    ({"expires_in": -5}, "expires_in must be positive"),
    ({"expires_in": 1.5}, "whole number"),
    ({"expires_in": True}, "whole number"),
    ({"privileges": {"fly": 10}}, "unknown privilege 'fly'"),
    ({"privileges": ["fly"]}, "unknown privilege 'fly'"),
    ({"privileges": {"subscribe": 0}}, "'subscribe' must be positive"),
    ({"privileges": "subscribe"}, "not a string"),
]


@pytest.mark.parametrize(("override", "message"), BAD)
def test_invalid_inputs_raise_value_error(override: Mapping[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"app_id": APP_ID, "app_certificate": CERT, "user_id": "u", "now": NOW}
    kwargs.update(override)
    app_id = kwargs.pop("app_id")
    cert = kwargs.pop("app_certificate")
    with pytest.raises(ValueError, match=message):
        build_token(app_id, cert, **kwargs)
