"""The ``hubbub`` command line.

Each sub-command lives in its own module with ``register(subparsers)`` adding its parser and
setting ``func`` (a callable taking the parsed namespace and returning an exit status).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hubbub import __version__
from hubbub.cli.errors import CliError


def build_parser() -> argparse.ArgumentParser:
    from hubbub.cli import agent, bench, config_cmd, netsim, serve, token

    parser = argparse.ArgumentParser(
        prog="hubbub",
        description="Hubbub: voice, video, live streaming, messaging and voice AI on your own servers.",
    )
    parser.add_argument("--version", action="version", version=f"hubbub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (serve, config_cmd, token, agent, bench, netsim):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"hubbub: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
