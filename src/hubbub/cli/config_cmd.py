"""``hubbub config show``: the effective settings, secrets masked."""

from __future__ import annotations

import argparse
import json
from typing import Any

from hubbub.cli._settings import add_settings_flags, settings_from
from hubbub.config import masked


def register(sub: Any) -> None:
    parser = sub.add_parser("config", help="inspect the effective configuration")
    inner = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = inner.add_parser(
        "show",
        help="print the effective settings (flags > $HUBBUB_* > TOML file > defaults), secrets masked",
    )
    add_settings_flags(show)
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace) -> int:
    print(json.dumps(masked(settings_from(args)), indent=2))
    return 0
