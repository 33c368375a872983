"""``hubbub serve``: run the platform in one process."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from hubbub.cli._settings import add_settings_flags, flag_of, settings_from
from hubbub.cli.errors import CliError


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the platform (REST API, console, signaling, media) in this process",
        description="Run Hubbub. Defaults need no other service: an SQLite file in the data directory.",
    )
    add_settings_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hubbub.server import ListenError, serve
    from hubbub.util.logging import setup_logging

    settings = settings_from(args)
    setup_logging(settings.log_level, settings.log_format)
    try:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
            asyncio.run(serve(settings))
        else:
            uvloop.run(serve(settings))
    except ListenError as exc:
        raise CliError(
            f"{exc.what} port {exc.port} on {exc.host} {exc.strerror} ({exc.origin(flag_of(exc.setting))})"
        ) from None
    except OSError as exc:
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    return 0
