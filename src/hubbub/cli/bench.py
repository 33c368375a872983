"""``hubbub bench ...``: benchmarks that print JSON."""

from __future__ import annotations

import argparse
import json
import sys
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
    sfu = inner.add_parser(
        "sfu",
        help="CPU per forwarded packet of hubbub, Janus and a kernel-floor forwarder under simulated participants",
        description=(
            "Start each server in its own process, connect simulated participants (real ICE, DTLS and SRTP, "
            "synthetic media) and report the server's CPU time per packet it delivered, with loss and delay."
        ),
    )
    sfu.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="audio-1x200, video-1x50, meeting-6x6 (repeatable; default: those three); "
        "small ones: audio-1x3, video-1x3, meeting-2x2",
    )
    sfu.add_argument("--duration", type=float, default=10.0, help="seconds measured after the warm-up (default 10)")
    sfu.add_argument("--warmup", type=float, default=2.0, help="seconds of media before measuring (default 2)")
    sfu.add_argument(
        "--servers",
        default="",
        metavar="LIST",
        help="comma-separated: hubbub,janus,floor (default: each of them this machine can run)",
    )
    sfu.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    sfu.set_defaults(func=run_sfu)
    from hubbub.bench import agent as agent_bench

    agent_bench.register(inner)
    from hubbub.bench import rtm as rtm_bench

    rtm_bench.register(inner)
    from hubbub.bench import netsim as netsim_bench

    netsim_bench.register(inner)
    from hubbub.bench import quality as quality_bench

    quality_bench.register(inner)
    setup = inner.add_parser(
        "setup", help="call setup in Chromium: connect() to the first remote video frame (getUserMedia excluded)"
    )
    setup.add_argument("--runs", type=int, default=8)
    setup.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    setup.set_defaults(func=run_setup)


def run_tokens(args: argparse.Namespace) -> int:
    from hubbub.bench.tokens import run

    print(json.dumps(run(args.seconds)))
    return 0


def run_startup(args: argparse.Namespace) -> int:
    from hubbub.bench.startup import run

    print(json.dumps(run(args.runs)))
    return 0


def run_setup(args: argparse.Namespace) -> int:
    from hubbub.bench.setup import SetupBenchError, run
    from hubbub.cli.errors import CliError

    if args.runs < 1:
        raise CliError("--runs must be at least 1")
    try:
        print(json.dumps(run(args.runs)))
    except SetupBenchError as exc:
        raise CliError(f"cannot measure call setup: {exc}") from None
    return 0


def run_sfu(args: argparse.Namespace) -> int:
    from hubbub.bench.sfu import DEFAULT_SCENARIOS, SCENARIOS, SERVERS, available_servers, run
    from hubbub.cli.errors import CliError

    scenarios = args.scenario or list(DEFAULT_SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise CliError(f"unknown scenario {unknown[0]!r}: choose from {', '.join(SCENARIOS)}")
    if args.duration <= 0 or args.warmup < 0:
        raise CliError("--duration must be positive and --warmup not negative")
    usable, missing = available_servers()
    if args.servers:
        servers = [s.strip() for s in args.servers.split(",") if s.strip()]
        for server in servers:
            if server not in SERVERS:
                raise CliError(f"unknown server {server!r}: choose from {', '.join(SERVERS)}")
            if server in missing:
                raise CliError(f"cannot benchmark {server}: {missing[server]}")
    else:
        servers = usable
        for server, why in missing.items():
            print(f"skipping {server}: {why}", file=sys.stderr)
    report = run(scenarios, servers, duration=args.duration, warmup=args.warmup)
    print(json.dumps(report))
    return 1 if report.get("errors") else 0
