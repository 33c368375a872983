"""``hubbub token``: create, inspect and verify access tokens from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from hubbub.cli.errors import CliError
from hubbub.control.tokens import AppKeys, TokenError, verify_token
from hubbub.schema import jsonsafe
from hubbub.schema.token_builder import build_token
from hubbub.schema.tokens import Privilege, Role, b64url_decode

__all__ = ["register"]

_ENV_APP_ID = "HUBBUB_APP_ID"
_ENV_CERTIFICATE = "HUBBUB_APP_CERTIFICATE"


def register(subparsers: Any) -> None:
    """Add ``hubbub token {create,inspect,verify}`` to the top-level parser's ``subparsers``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "token",
        help="create, inspect or verify access tokens",
        description="Create, inspect and verify access tokens.",
    )
    parser.set_defaults(func=lambda _args: _print_help(parser))
    sub = parser.add_subparsers(dest="token_command", metavar="ACTION")

    create = sub.add_parser(
        "create",
        help="mint a token",
        description="Mint an access token signed with the App Certificate.",
    )
    _add_key_flags(create)
    create.add_argument("--user", required=True, help="user id (1 to 255 characters)")
    create.add_argument("--channel", default="*", help="channel name, or '*' for any (default: *)")
    create.add_argument(
        "--role",
        default=Role.host.value,
        choices=[r.value for r in Role],
        help="role; decides the default privileges (default: host)",
    )
    create.add_argument(
        "--expire",
        type=int,
        default=3600,
        metavar="SECONDS",
        help="token lifetime in seconds (default: 3600)",
    )
    create.add_argument(
        "--privilege",
        action="append",
        default=[],
        metavar="NAME[=SECONDS]",
        help="grant a privilege, optionally with its own lifetime; repeatable; replaces the role's "
        f"defaults. Names: {', '.join(p.value for p in Privilege)}",
    )
    create.add_argument("--json", action="store_true", help="print a JSON object with token, expires_at, privileges")
    create.set_defaults(func=_create)

    inspect = sub.add_parser(
        "inspect",
        help="decode a token WITHOUT verifying it",
        description="Decode a token and print its header and claims as JSON. The signature is NOT "
        "checked: use 'hubbub token verify' to know whether the token is genuine.",
    )
    inspect.add_argument("token", metavar="TOKEN", help="the token, or '-' to read it from stdin")
    inspect.set_defaults(func=_inspect)

    verify = sub.add_parser(
        "verify",
        help="verify a token against an App Certificate",
        description="Verify a token now; print 'ok' and its claims, or the error code and message (exit status 1).",
    )
    verify.add_argument("token", metavar="TOKEN", help="the token, or '-' to read it from stdin")
    _add_key_flags(verify)
    verify.add_argument("--channel", default=None, help="channel being joined (default: any)")
    verify.set_defaults(func=_verify)


def _add_key_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app-id", default=None, help=f"the project's App ID (default: ${_ENV_APP_ID})")
    parser.add_argument(
        "--app-certificate",
        default=None,
        help=f"the App Certificate (default: ${_ENV_CERTIFICATE}). Prefer the environment "
        "variable: a flag stays in your shell history and shows in process listings",
    )


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _keys(args: argparse.Namespace) -> tuple[str, str]:
    app_id = args.app_id or os.environ.get(_ENV_APP_ID)
    certificate = args.app_certificate or os.environ.get(_ENV_CERTIFICATE)
    if not app_id:
        raise CliError(f"no App ID: pass --app-id or set {_ENV_APP_ID}")
    if not certificate:
        raise CliError(f"no App Certificate: set {_ENV_CERTIFICATE} (or pass --app-certificate)")
    return app_id, certificate


def _parse_privileges(specs: list[str], expire: int) -> dict[str, int] | None:
    if not specs:
        return None
    lifetimes: dict[str, int] = {}
    for spec in specs:
        name, sep, seconds = spec.partition("=")
        if not sep:
            lifetimes[name.strip()] = expire
            continue
        try:
            lifetimes[name.strip()] = int(seconds)
        except ValueError:
            raise CliError(
                f"--privilege {spec!r}: expected NAME or NAME=SECONDS with a whole number of seconds"
            ) from None
    return lifetimes


def _create(args: argparse.Namespace) -> int:
    app_id, certificate = _keys(args)
    now = int(time.time())
    try:
        token = build_token(
            app_id,
            certificate,
            user_id=args.user,
            channel=args.channel,
            role=args.role,
            expires_in=args.expire,
            privileges=_parse_privileges(args.privilege, args.expire),
            now=now,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        claims = _decode_claims(token)
        print(
            json.dumps(
                {"token": token, "expires_at": claims["exp"], "privileges": claims["hubbub"]["priv"]},
                indent=2,
            )
        )
    else:
        print(token)
    return 0


def _read_token(value: str) -> str:
    return (sys.stdin.read() if value == "-" else value).strip()


def _b64json(segment: str, what: str) -> Any:
    """One part of a JWT, read as the server reads it (strict base64url, bounded JSON)."""
    try:
        return jsonsafe.loads(b64url_decode(segment))
    except ValueError as exc:  # binascii.Error and jsonsafe.JsonError are ValueErrors
        raise CliError(f"the token's {what} is not base64url-encoded JSON") from exc


def _decode_claims(token: str) -> Any:
    return _b64json(token.split(".")[1], "payload")


def _inspect(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    parts = token.split(".")
    if len(parts) != 3:
        raise CliError("not a JWT: expected three base64url parts separated by dots")
    header = _b64json(parts[0], "header")
    claims = _b64json(parts[1], "payload")
    print(json.dumps({"verified": False, "header": header, "claims": claims}, indent=2))
    return 0


def _verify(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    app_id, certificate = _keys(args)
    try:
        keys = AppKeys(app_id, certificate)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        verify_token(
            token,
            lookup=lambda _app_id: keys,  # a mismatch is reported as token_wrong_app
            now=time.time(),
            expected_app_id=app_id,
            channel=args.channel,
        )
    except TokenError as exc:
        print(f"{exc.code.value}: {exc.message}")
        return 1
    print("ok")
    print(json.dumps(_decode_claims(token), indent=2))
    return 0
