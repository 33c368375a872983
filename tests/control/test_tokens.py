from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.control.tokens import (
    APP_ONLY_LIFETIME,
    AppKeys,
    TokenError,
    VerifiedToken,
    mint_token,
    verify_app_only,
    verify_token,
)
from hubbub.schema.tokens import DEFAULT_PRIVILEGES, Privilege, Role, TokenErrorCode
from hubbub.sdk.token import build_token

APP = "app-123"
CERT = "0123456789abcdef0123456789abcdef"
OLD_CERT = "fedcba9876543210fedcba9876543210"
NOW = 1_700_000_000
KEYS = AppKeys(APP, CERT)
Code = TokenErrorCode


def lookup(app_id: str) -> AppKeys | None:
    return KEYS if app_id == APP else None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: Any, claims: Any, key: bytes = CERT.encode()) -> str:
    """A token with any header and claims, HMAC-SHA256-signed with ``key``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def token(**kwargs: Any) -> str:
    kwargs.setdefault("user_id", "alice")
    kwargs.setdefault("channel", "room1")
    kwargs.setdefault("now", NOW)
    return build_token(APP, CERT, **kwargs)


def refused(tok: str, code: TokenErrorCode, **kwargs: Any) -> TokenError:
    kwargs.setdefault("lookup", lookup)
    kwargs.setdefault("now", NOW + 10)
    with pytest.raises(TokenError) as info:
        verify_token(tok, **kwargs)
    assert info.value.code is code, info.value.message
    assert CERT not in info.value.message
    assert len(tok) < 8 or tok not in info.value.message
    assert str(info.value).startswith(code.value)
    return info.value


# --- round trip -------------------------------------------------------------------------------


def test_sdk_token_verifies_on_the_server() -> None:
    tok = token(role="audience", privileges={"join_channel": 3600, "subscribe": 1800})
    verified = verify_token(
        tok,
        lookup=lookup,
        now=NOW + 10,
        expected_app_id=APP,
        channel="room1",
        require=[Privilege.join_channel, Privilege.subscribe],
    )
    assert verified == VerifiedToken(
        app_id=APP,
        user_id="alice",
        channel="room1",
        role=Role.audience,
        privileges={Privilege.join_channel: NOW + 3600.0, Privilege.subscribe: NOW + 1800.0},
        issued_at=NOW,
        not_before=NOW,
        expires_at=NOW + 3600,
        token_id=claims_of(tok)["jti"],
    )


def test_wildcard_channel_matches_any_channel() -> None:
    verified = verify_token(token(channel="*"), lookup=lookup, now=NOW, channel="anything")
    assert verified.channel == "*"


def test_mint_token_uses_the_current_certificate() -> None:
    keys = AppKeys(APP, CERT, previous_certificate=OLD_CERT, previous_valid_until=NOW + 100)
    tok = mint_token(keys, user_id="bob", channel="room1", role=Role.agent, now=NOW + 0.7)
    verified = verify_token(tok, lookup=lambda _: AppKeys(APP, CERT), now=NOW)
    assert verified.role is Role.agent
    assert set(verified.privileges) == DEFAULT_PRIVILEGES[Role.agent]
    assert verified.issued_at == NOW
    with pytest.raises(ValueError, match="user_id"):
        mint_token(keys, user_id="", now=NOW)


# --- every rejection code ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.###.$$$",
        "eyJhbGciOiJIUzI1NiJ9.e30",
        "x" * 9000,
        "é.é.é",
        f"{b64(b'not json')}.{b64(b'{}')}.{b64(b'sig')}",
        f"{b64(b'[1]')}.{b64(b'{}')}.{b64(b'sig')}",
        b64(b'{"alg":"HS256"}') + "." + b64(b"[" * 2500 + b"]" * 2500) + "." + b64(b"sig"),  # too deep
        b64(b'{"a":' * 1200 + b"1" + b"}" * 1200) + "." + b64(b"{}") + "." + b64(b"sig"),
    ],
)
def test_malformed_strings(bad: str) -> None:
    refused(bad, Code.token_malformed)


def test_non_canonical_base64_is_malformed() -> None:
    tok = token()
    head, payload, sig = tok.split(".")
    # Flip unused trailing bits of the signature's last character (RFC 4648 §3.5).
    last = sig[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]
    refused(f"{head}.{payload}.{sig[:-1]}{twin}", Code.token_malformed)
    refused(f"{head}.{payload}.{sig}=", Code.token_malformed)


def _good_claims() -> dict[str, Any]:
    return claims_of(token())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.pop("iss"),
        lambda c: c.update(iss=""),
        lambda c: c.update(iss=7),
        lambda c: c.pop("sub"),
        lambda c: c.update(sub=""),
        lambda c: c.update(sub=42),
        lambda c: c.update(sub="x" * 256),
        lambda c: c.pop("exp"),
        lambda c: c.update(exp="tomorrow"),
        lambda c: c.update(exp=True),
        lambda c: c.update(exp=10**30),
        lambda c: c.update(nbf=None),
        lambda c: c.pop("iat"),
        lambda c: c.update(jti=5),
        lambda c: c.pop("hubbub"),
        lambda c: c.update(hubbub=[]),
        lambda c: c["hubbub"].update(v=2),
        lambda c: c["hubbub"].update(ch="bad/channel"),
        lambda c: c["hubbub"].pop("ch"),
        lambda c: c["hubbub"].update(role="owner"),
        lambda c: c["hubbub"].update(role=["host"]),
        lambda c: c["hubbub"].update(priv=["join_channel"]),
        lambda c: c["hubbub"].update(priv={"fly": NOW}),
        lambda c: c["hubbub"].update(priv={"join_channel": "soon"}),
    ],
)
def test_ill_typed_claims_are_malformed(mutate: Any) -> None:
    claims = _good_claims()
    mutate(claims)
    refused(forge({"alg": "HS256", "typ": "JWT"}, claims), Code.token_malformed)


def test_payload_must_be_an_object() -> None:
    refused(forge({"alg": "HS256"}, [1, 2]), Code.token_malformed)


def test_alg_none_is_malformed() -> None:
    claims = _good_claims()
    none_header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{none_header}.{b64(json.dumps(claims).encode())}."
    refused(unsigned, Code.token_malformed)
    refused(forge({"alg": "none"}, claims), Code.token_malformed)
    refused(forge({"alg": "None"}, claims), Code.token_malformed)
    refused(forge({"typ": "JWT"}, claims), Code.token_malformed)


def test_other_hmac_algorithms_and_crit_are_malformed() -> None:
    claims = _good_claims()
    refused(forge({"alg": "HS512"}, claims), Code.token_malformed)
    refused(forge({"alg": "HS256", "crit": ["exp"], "exp": 1}, claims), Code.token_malformed)
    refused(forge({"alg": "HS256", "b64": False, "crit": ["b64"]}, claims), Code.token_malformed)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rs256_token_is_malformed(rsa_key: rsa.RSAPrivateKey) -> None:
    tok = jwt.encode(_good_claims(), rsa_key, algorithm="RS256")
    refused(tok, Code.token_malformed)


def test_hs256_signed_with_a_public_key_is_a_bad_signature(rsa_key: rsa.RSAPrivateKey) -> None:
    # The classic RS/HS confusion: the attacker signs HS256 with a public key the server might hold.
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    refused(forge({"alg": "HS256", "typ": "JWT"}, _good_claims(), key=public_pem), Code.token_bad_signature)


def test_asymmetric_key_is_not_accepted_as_a_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="asymmetric"):
        AppKeys(APP, public_pem.decode())


def test_unknown_app() -> None:
    tok = build_token("nobody", CERT, user_id="alice", now=NOW)
    refused(tok, Code.token_unknown_app)


def test_unknown_app_comes_before_the_signature() -> None:
    tok = build_token("nobody", "z" * 32, user_id="alice", now=NOW)
    refused(tok, Code.token_unknown_app)


def test_wrong_app() -> None:
    refused(token(), Code.token_wrong_app, lookup=lambda _: KEYS, expected_app_id="other-app")


def test_wrong_app_comes_before_the_signature() -> None:
    tok = build_token("other-app", "z" * 32, user_id="alice", now=NOW)
    refused(tok, Code.token_wrong_app, lookup=lambda _: KEYS, expected_app_id=APP)


def test_bad_signature_wrong_certificate() -> None:
    refused(build_token(APP, "z" * 32, user_id="alice", now=NOW), Code.token_bad_signature)


def test_tampered_payload_is_a_bad_signature() -> None:
    head, _, sig = token(role="audience").split(".")
    claims = _good_claims()
    claims["hubbub"]["role"] = "admin"
    claims["hubbub"]["priv"]["room_admin"] = NOW + 3600
    refused(f"{head}.{b64(json.dumps(claims).encode())}.{sig}", Code.token_bad_signature)


def test_tampered_signature_is_a_bad_signature() -> None:
    head, payload, _ = token().split(".")
    refused(f"{head}.{payload}.{b64(bytes(32))}", Code.token_bad_signature)
    refused(f"{head}.{payload}.", Code.token_bad_signature)


def test_not_yet_valid() -> None:
    tok = token(not_before=NOW + 60)
    refused(tok, Code.token_not_yet_valid, now=NOW)
    refused(token(), Code.token_not_yet_valid, now=NOW - 5.5)  # minting clock 5.5 s fast


def test_expired() -> None:
    error = refused(token(expires_in=60), Code.token_expired, now=NOW + 600)
    assert "expired 540 s ago" in error.message


def test_channel_mismatch() -> None:
    refused(token(channel="room1"), Code.token_channel_mismatch, channel="room2")


def test_privilege_missing() -> None:
    error = refused(token(role="audience"), Code.token_privilege_missing, require=[Privilege.publish_audio])
    assert "publish_audio" in error.message


def test_privilege_expired() -> None:
    tok = token(privileges={"join_channel": 3600, "publish_audio": 600})
    error = refused(
        tok,
        Code.token_privilege_expired,
        now=NOW + 700,
        require=[Privilege.join_channel, Privilege.publish_audio],
    )
    assert "publish_audio" in error.message


def test_token_required_for_app_only_join() -> None:
    with pytest.raises(TokenError) as info:
        verify_app_only(APP, "alice", "room1", lookup, NOW)
    assert info.value.code is Code.token_required


def test_every_code_is_tested() -> None:
    source = Path(__file__).read_text().replace('f"Code.{code.name}"', "")
    for code in TokenErrorCode:
        assert f"Code.{code.name}" in source, code


def test_check_order_expired_and_wrong_channel_reports_expiry() -> None:
    refused(token(expires_in=60), Code.token_expired, now=NOW + 600, channel="room2")


def test_check_order_bad_signature_before_time() -> None:
    refused(
        build_token(APP, "z" * 32, user_id="a", now=NOW, expires_in=1),
        Code.token_bad_signature,
        now=NOW + 999,
    )


# --- time: leeway, per-privilege expiry, warnings -------------------------------------------


def test_leeway_on_both_edges() -> None:
    tok = token(expires_in=60)
    assert verify_token(tok, lookup=lookup, now=NOW - 5).user_id == "alice"
    assert verify_token(tok, lookup=lookup, now=NOW + 65).user_id == "alice"
    refused(tok, Code.token_expired, now=NOW + 65.01)
    assert verify_token(tok, lookup=lookup, now=NOW + 120, leeway=60).user_id == "alice"
    refused(tok, Code.token_expired, now=NOW + 61, leeway=0)


def test_publish_expires_while_join_stays_valid() -> None:
    tok = token(privileges={"join_channel": 3600, "publish_audio": 600})
    verified = verify_token(tok, lookup=lookup, now=NOW + 700, require=[Privilege.join_channel])
    assert verified.has(Privilege.join_channel, NOW + 700)
    assert not verified.has(Privilege.publish_audio, NOW + 700)
    assert verified.has(Privilege.publish_audio, NOW + 600)
    assert not verified.has(Privilege.subscribe, NOW)
    verified.require(Privilege.publish_audio, NOW + 599)
    with pytest.raises(TokenError) as info:
        verified.require(Privilege.publish_audio, NOW + 601)
    assert info.value.code is Code.token_privilege_expired
    with pytest.raises(TokenError) as info:
        verified.require(Privilege.publish_video, NOW)
    assert info.value.code is Code.token_privilege_missing


def test_privilege_expiry_is_capped_at_the_token_expiry() -> None:
    claims = _good_claims()
    claims["hubbub"]["priv"]["join_channel"] = NOW + 10**6
    verified = verify_token(forge({"alg": "HS256"}, claims), lookup=lookup, now=NOW)
    assert verified.privileges[Privilege.join_channel] == verified.expires_at


def test_expiring_lists_token_and_privileges_in_the_window() -> None:
    tok = token(privileges={"join_channel": 3600, "publish_audio": 600, "subscribe": 1200})
    verified = verify_token(tok, lookup=lookup, now=NOW)
    assert verified.expiring(NOW + 570, 60) == [("publish_audio", NOW + 600)]
    assert verified.expiring(NOW, 30) == []
    assert verified.expiring(NOW + 3570, 60) == [("join_channel", NOW + 3600), ("token", NOW + 3600)]
    assert verified.expiring(NOW + 700, 600) == [("subscribe", NOW + 1200)]


# --- rotation ----------------------------------------------------------------------------------


def test_rotation_grace_period() -> None:
    rotated = AppKeys(APP, CERT, previous_certificate=OLD_CERT, previous_valid_until=NOW + 100)
    old_token = build_token(APP, OLD_CERT, user_id="alice", now=NOW)
    new_token = build_token(APP, CERT, user_id="alice", now=NOW)

    def rotated_lookup(app_id: str) -> AppKeys | None:
        return rotated

    for now in (NOW, NOW + 100):
        assert verify_token(old_token, lookup=rotated_lookup, now=now).user_id == "alice"
        assert verify_token(new_token, lookup=rotated_lookup, now=now).user_id == "alice"
    refused(old_token, Code.token_bad_signature, lookup=rotated_lookup, now=NOW + 100.5)
    assert verify_token(new_token, lookup=rotated_lookup, now=NOW + 101).user_id == "alice"


def test_previous_certificate_without_a_deadline_never_verifies() -> None:
    keys = AppKeys(APP, CERT, previous_certificate=OLD_CERT)
    refused(build_token(APP, OLD_CERT, user_id="a", now=NOW), Code.token_bad_signature, lookup=lambda _: keys)


def test_app_keys_validation_and_repr() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        AppKeys(APP, "short")
    with pytest.raises(ValueError, match="previous_certificate"):
        AppKeys(APP, CERT, previous_certificate="short")
    with pytest.raises(ValueError, match="app_id"):
        AppKeys("", CERT)
    assert CERT not in repr(AppKeys(APP, CERT, previous_certificate=OLD_CERT))
    assert OLD_CERT not in repr(AppKeys(APP, CERT, previous_certificate=OLD_CERT))


# --- testing mode ------------------------------------------------------------------------------


def test_app_only_mode_grants_role_defaults_for_a_day() -> None:
    keys = AppKeys(APP, CERT, token_required=False)
    grant = verify_app_only(APP, "alice", "room1", lambda _: keys, NOW, role="audience")
    assert grant.role is Role.audience
    assert grant.expires_at == NOW + APP_ONLY_LIFETIME == NOW + 86400
    assert set(grant.privileges) == DEFAULT_PRIVILEGES[Role.audience]
    assert grant.has(Privilege.join_channel, NOW + 86400)
    assert not grant.has(Privilege.join_channel, NOW + 86401)
    host = verify_app_only(APP, "bob", "room1", lambda _: keys, NOW)
    assert set(host.privileges) == DEFAULT_PRIVILEGES[Role.host]


def test_app_only_mode_refusals() -> None:
    keys = AppKeys(APP, CERT, token_required=False)
    cases: list[tuple[tuple[str, str, str], dict[str, Any], TokenErrorCode]] = [
        (("nobody", "alice", "room1"), {}, Code.token_unknown_app),
        ((APP, "", "room1"), {}, Code.token_malformed),
        ((APP, "alice", "bad/channel"), {}, Code.token_malformed),
        ((APP, "alice", "room1"), {"role": "owner"}, Code.token_malformed),
    ]
    for (app_id, user, channel), extra, code in cases:
        with pytest.raises(TokenError) as info:
            verify_app_only(app_id, user, channel, lambda a: keys if a == APP else None, NOW, **extra)
        assert info.value.code is code


def test_tokens_still_verify_in_testing_mode() -> None:
    keys = AppKeys(APP, CERT, token_required=False)
    refused(build_token(APP, "z" * 32, user_id="a", now=NOW), Code.token_bad_signature, lookup=lambda _: keys)


# --- fuzz --------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.text(alphabet="ABCDEFGHIJabcdefghij0123456789-_=", max_size=60), min_size=3, max_size=3).map(
            ".".join
        ),
        st.tuples(
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                max_leaves=12,
            ),
            st.dictionaries(
                st.sampled_from(["iss", "sub", "iat", "nbf", "exp", "jti", "hubbub"]),
                st.none() | st.integers() | st.text(max_size=8) | st.just(APP) | st.floats(),
                max_size=7,
            ),
        ).map(lambda hc: forge({"alg": "HS256", "x": hc[0]}, hc[1])),
    )
)
def test_arbitrary_text_only_ever_raises_token_error(text: str) -> None:
    try:
        verify_token(text, lookup=lookup, now=NOW, channel="room1", require=[Privilege.join_channel])
    except TokenError as exc:
        assert isinstance(exc.code, TokenErrorCode)


# --- the JavaScript example in docs/tokens.md -------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tokens.md"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_javascript_example_in_the_docs_produces_tokens_the_server_accepts(tmp_path: Path) -> None:
    match = re.search(r"<!-- token-js:begin -->\s*```js\n(.*?)```", DOCS.read_text(), re.S)
    assert match, "the JavaScript example is missing from docs/tokens.md"
    script = tmp_path / "mint.js"
    script.write_text(
        match.group(1) + "console.log(buildToken(process.argv[2], process.argv[3], {userId: 'José', channel: 'room1',"
        " now: Number(process.argv[4]), privileges: {join_channel: 3600, publish_audio: 600}}));\n"
        + "console.log(buildToken(process.argv[2], process.argv[3], {userId: 'bob', role: 'audience',"
        " now: Number(process.argv[4])}));\n"
    )
    out = subprocess.run(
        ["node", str(script), APP, CERT, str(NOW)], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    verified = verify_token(out[0], lookup=lookup, now=NOW + 10, channel="room1", require=[Privilege.join_channel])
    python = claims_of(token(user_id="José", privileges={"join_channel": 3600, "publish_audio": 600}))
    node = claims_of(out[0])
    assert {k: v for k, v in node.items() if k != "jti"} == {k: v for k, v in python.items() if k != "jti"}
    assert verified.privileges[Privilege.publish_audio] == NOW + 600
    audience = verify_token(out[1], lookup=lookup, now=NOW + 10, channel="any")
    assert set(audience.privileges) == DEFAULT_PRIVILEGES[Role.audience]
    assert out[0].split(".")[0] == token().split(".")[0]
