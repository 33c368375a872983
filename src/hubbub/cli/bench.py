"""``hubbub bench ...``: benchmarks that print JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="run a benchmark and print its results as JSON")
    inner = parser.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    tokens = inner.add_parser("tokens", help="token verifications and mints per second on one core")
    tokens.add_argument("--seconds", type=float, default=2.0)
    tokens.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    tokens.set_defaults(func=run_tokens)
    startup = inner.add_parser("startup", help="cold start of `hubbub serve` with an empty SQLite, to ready")
    startup.add_argument("--runs", type=int, default=3)
    startup.add_argument("--json", action="store_true")
    startup.set_defaults(func=run_startup)


def run_tokens(args: argparse.Namespace) -> int:
    from hubbub.bench.tokens import run

    print(json.dumps(run(args.seconds)))
    return 0


def run_startup(args: argparse.Namespace) -> int:
    from hubbub.bench.startup import run

    print(json.dumps(run(args.runs)))
    return 0
