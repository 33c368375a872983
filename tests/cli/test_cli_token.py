from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hubbub.cli import main
from hubbub.control.tokens import AppKeys, verify_token
from hubbub.schema.tokens import DEFAULT_PRIVILEGES, Privilege, Role
from hubbub.sdk.token import build_token

APP = "app-cli"
CERT = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _keys_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_APP_ID", APP)
    monkeypatch.setenv("HUBBUB_APP_CERTIFICATE", CERT)


def _verify(token: str, **kwargs: Any) -> Any:
    return verify_token(token, lookup=lambda _: AppKeys(APP, CERT), now=time.time(), **kwargs)


def _claims(token: str) -> Any:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_create_prints_a_bare_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--user", "alice", "--channel", "room1"]) == 0
    token = capsys.readouterr().out.strip()
    verified = _verify(token, channel="room1", expected_app_id=APP)
    assert verified.user_id == "alice"
    assert verified.role is Role.host
    assert set(verified.privileges) == DEFAULT_PRIVILEGES[Role.host]
    assert verified.expires_at - verified.issued_at == 3600


def test_create_json_with_privileges(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["token", "create", "--user", "bob", "--role", "audience", "--expire", "120", "--json"]
    argv += ["--privilege", "join_channel", "--privilege", "publish_audio=60"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"token", "expires_at", "privileges"}
    verified = _verify(out["token"])
    assert verified.role is Role.audience
    assert out["expires_at"] == verified.expires_at == verified.issued_at + 120
    assert out["privileges"] == {
        "join_channel": verified.issued_at + 120,
        "publish_audio": verified.issued_at + 60,
    }


def test_flags_override_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    other = "z" * 32
    assert main(["token", "create", "--user", "u", "--app-id", "other", "--app-certificate", other]) == 0
    token = capsys.readouterr().out.strip()
    assert verify_token(token, lookup=lambda _: AppKeys("other", other), now=time.time()).app_id == "other"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--privilege", "fly"], "unknown privilege 'fly'"),
        (["--privilege", "subscribe=soon"], "NAME=SECONDS"),
        (["--privilege", "subscribe=0"], "must be positive"),
        (["--expire", "0"], "expires_in must be positive"),
        (["--channel", "a/b"], "invalid channel name"),
    ],
)
def test_create_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "create", "--user", "u", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert CERT not in captured.err


def test_missing_keys(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HUBBUB_APP_CERTIFICATE")
    assert main(["token", "create", "--user", "u"]) == 2
    assert "HUBBUB_APP_CERTIFICATE" in capsys.readouterr().err
    monkeypatch.delenv("HUBBUB_APP_ID")
    assert main(["token", "create", "--user", "u"]) == 2
    assert "HUBBUB_APP_ID" in capsys.readouterr().err


def test_help_recommends_the_environment_for_the_certificate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["token", "create", "--help"])
    assert "shell history" in capsys.readouterr().out


def test_token_without_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token"]) == 2
    assert "create" in capsys.readouterr().out


def test_inspect_decodes_without_verifying(capsys: pytest.CaptureFixture[str]) -> None:
    token = build_token(APP, "y" * 32, user_id="carol", channel="room9", now=1_700_000_000)
    assert main(["token", "inspect", token]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verified"] is False
    assert out["header"] == {"alg": "HS256", "typ": "JWT"}
    assert out["claims"] == _claims(token)
    assert "y" * 32 not in json.dumps(out)


def test_inspect_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    token = build_token(APP, CERT, user_id="dave", now=1_700_000_000)
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))
    assert main(["token", "inspect", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"]["sub"] == "dave"


@pytest.mark.parametrize("bad", ["garbage", "a.b.c", "!!.!!.!!"])
def test_inspect_rejects_garbage(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "inspect", bad]) == 2
    assert capsys.readouterr().err.startswith("hubbub: ")


def test_inspect_reads_the_parts_as_the_server_does(capsys: pytest.CaptureFixture[str]) -> None:
    """Strict base64url and bounded JSON: what verification would call malformed, inspect refuses
    with one line (a padded part, a payload nested 10,000 deep), never a traceback."""
    header, payload, signature = build_token(APP, CERT, user_id="zoe").split(".")
    padded = f"{header}.{payload}{'=' * (-len(payload) % 4) or '=='}.{signature}"
    deep = base64.urlsafe_b64encode(b"[" * 10_000 + b"]" * 10_000).rstrip(b"=").decode()
    for token, part in ((padded, "payload"), (f"{header}.{deep}.{signature}", "payload")):
        assert main(["token", "inspect", token]) == 2
        assert capsys.readouterr().err == f"hubbub: the token's {part} is not base64url-encoded JSON\n"


def test_verify_ok(capsys: pytest.CaptureFixture[str]) -> None:
    token = build_token(APP, CERT, user_id="erin", channel="room1")
    assert main(["token", "verify", token, "--channel", "room1"]) == 0
    out = capsys.readouterr().out
    first, rest = out.split("\n", 1)
    assert first == "ok"
    assert json.loads(rest)["sub"] == "erin"


@pytest.mark.parametrize(
    ("token_args", "extra", "code"),
    [
        ({"app_certificate": "x" * 32}, [], "token_bad_signature"),
        ({}, ["--channel", "room2"], "token_channel_mismatch"),
        ({"now": 1_000_000_000}, [], "token_expired"),
        ({"app_id": "another"}, [], "token_wrong_app"),
    ],
)
def test_verify_refusals(
    token_args: dict[str, Any], extra: list[str], code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args: dict[str, Any] = {"app_id": APP, "app_certificate": CERT, "user_id": "u", "channel": "room1"}
    args.update(token_args)
    token = build_token(args.pop("app_id"), args.pop("app_certificate"), **args)
    assert main(["token", "verify", token, *extra]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{code}: ")
    assert CERT not in out and token not in out


def test_verify_malformed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "verify", "not-a-token"]) == 1
    assert capsys.readouterr().out.startswith("token_malformed: ")


def test_verify_with_a_short_certificate_is_a_cli_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUBBUB_APP_CERTIFICATE", "short")
    assert main(["token", "verify", "a.b.c"]) == 2
    assert "at least 32 bytes" in capsys.readouterr().err


def test_installed_command_creates_a_token() -> None:
    exe = Path(sys.executable).with_name("hubbub")
    if not exe.exists():
        pytest.skip(f"no {exe}: the package is not installed in this environment")
    env = {**os.environ, "HUBBUB_APP_ID": APP, "HUBBUB_APP_CERTIFICATE": CERT}
    result = subprocess.run(
        [str(exe), "token", "create", "--user", "frank", "--channel", "room1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    verified = _verify(out["token"], channel="room1", require=[Privilege.publish_audio])
    assert verified.user_id == "frank"
