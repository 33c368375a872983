"""The ``hubbub bench quality`` command."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .call import BAD, BAD_PROFILE, LEGS, SCENARIOS, SERVERS, STEP, QualityBenchError, Run, Source
from .report import table


def register(inner: Any) -> None:
    parser = inner.add_parser(
        "quality",
        help="a Chromium call's quality (bitrate, size, freezes, delay) through the impairment relay",
        description=(
            "Chromium publisher to Chromium subscriber through hubbub and through Janus's videoroom, and Chromium "
            "to Chromium peer to peer, "
            "with one leg (or both) through an impairment relay (hubbub netsim) running a profile; "
            f"the {STEP} scenario caps the leg at 3 Mbit/s, steps to 500 kbit/s at a third of the run and back "
            "at two thirds (adapt_s: time until the received bitrate stays within 20% of 500 kbit/s); "
            f"{BAD} puts a second subscriber of the same publisher on {BAD_PROFILE} (the SFUs only) and reports both."
        ),
    )
    parser.add_argument(
        "--profile",
        action="append",
        metavar="NAME",
        help=f"a netsim profile or {STEP} (repeatable; default: every one): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--leg", action="append", choices=LEGS, help="the leg through the relay (repeatable; default: all three)"
    )
    parser.add_argument(
        "--servers", default=",".join(SERVERS), metavar="LIST", help="hubbub,p2p,janus (default: all three)"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds measured per run (default 30)")
    parser.add_argument("--size", default="640x360", metavar="WxH", help="the sent video's size (default 640x360)")
    parser.add_argument("--fps", type=int, default=30, help="the sent video's frame rate (default 30)")
    parser.add_argument(
        "--no-speech",
        action="store_true",
        help="send a tone, not espeak-ng speech, and leave wer null (no Whisper run)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (default when stdout is not a terminal)")
    parser.set_defaults(func=_cli)


def _fail(message: str) -> int:
    print(f"hubbub: {message}", file=sys.stderr)
    return 2


def _cli(args: argparse.Namespace) -> int:
    from .run import run

    scenarios = args.profile or list(SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        return _fail(f"unknown profile {unknown[0]!r}: choose from {', '.join(SCENARIOS)}")
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for server in servers:
        if server not in SERVERS:
            return _fail(f"unknown server {server!r}: choose from {', '.join(SERVERS)}")
    if args.seconds <= 0:
        return _fail("--seconds must be positive")
    width, _, height = args.size.partition("x")
    if not (width.isdigit() and height.isdigit() and 16 <= int(width) <= 3840 and 16 <= int(height) <= 2160):
        return _fail(f"--size must be WIDTHxHEIGHT in pixels, not {args.size!r}")
    if not 1 <= args.fps <= 60:
        return _fail("--fps must be 1..60")
    legs = args.leg or LEGS
    runs = [
        Run(server, scenario, leg)
        for scenario in scenarios
        for leg in (("-",) if scenario == BAD else legs)
        for server in servers
        if (scenario != BAD or server != "p2p")  # three in a call: an SFU's scenario
        # peer to peer has one path: its publisher leg is its subscriber leg, measured once
        and not (server == "p2p" and leg == "publisher" and "subscriber" in legs)
    ]
    try:
        report = run(runs, args.seconds, Source(int(width), int(height), args.fps, speech=not args.no_speech))
    except QualityBenchError as exc:
        return _fail(f"cannot measure call quality: {exc}")
    if args.json or not sys.stdout.isatty():
        print(json.dumps(report))
    else:
        print(table(report["results"]))
        for error in report["errors"]:
            print(f"failed: {error}", file=sys.stderr)
    return 1 if report["errors"] else 0
