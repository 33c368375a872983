"""``hubbub netsim``: the impairment relay on the command line (docs/network-lab.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from hubbub.cli.errors import CliError

# flag -> (Impairment field, help, how the flag's text becomes the field's value)
_FLAGS = {
    "loss": ("loss", "random loss, percent", "pct"),
    "burst": ("burst", "Gilbert-Elliott burst loss P,R[,BAD[,GOOD]] in percent, as netem's gemodel", "burst"),
    "delay": ("delay_ms", "one-way delay, ms", "float"),
    "jitter": ("jitter_ms", "delay standard deviation, ms (order kept unless --reorder)", "float"),
    "reorder": ("reorder", "let jitter reorder packets", "flag"),
    "duplicate": ("duplicate", "duplicated packets, percent", "pct"),
    "rate": ("rate_kbps", "bottleneck rate, kbit/s (0: none)", "float"),
    "queue-ms": ("queue_ms", "bottleneck queue bound, ms of waiting (tail drop)", "float"),
    "queue-bytes": ("queue_bytes", "bottleneck queue bound, bytes (tail drop)", "int"),
    "outage": ("outage", "periodic outages EVERY_S,LENGTH_S (e.g. 10,2)", "outage"),
}


_METAVARS = {"pct": "PCT", "float": "N", "int": "BYTES", "burst": "P,R", "outage": "EVERY,LEN"}
_METAVARS_BY_FLAG = {"delay": "MS", "jitter": "MS", "queue-ms": "MS", "rate": "KBPS"}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "netsim",
        help="relay UDP (and ICE-TCP) to a server, impairing each direction",
        description=(
            "Relay UDP from clients to --to, one upstream socket per client, with loss, burst loss, delay, "
            "jitter, duplication, a rate-limited queue and outages applied separately to up (client to server) "
            "and down (server to client). Plain flags apply to both directions; --up-FLAG and --down-FLAG to one, "
            "over the profile. Prints a JSON line of counters every --interval seconds and at exit."
        ),
    )
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT", help="default 127.0.0.1:0")
    parser.add_argument("--to", metavar="HOST:PORT", help="the server's media address")
    parser.add_argument("--tcp", action="store_true", help="also relay ICE-TCP (RFC 4571 frames) to --to")
    parser.add_argument("--tcp-to", metavar="HOST:PORT", help="relay ICE-TCP to this address (implies --tcp)")
    parser.add_argument("--profile", metavar="NAME", help="a named profile (see --profiles)")
    parser.add_argument("--profiles", action="store_true", help="list the profiles and exit")
    parser.add_argument("--script", type=Path, metavar="FILE", help="a timeline (JSON list or text form)")
    parser.add_argument("--seed", metavar="S", help="seed of the random choices (repeatable runs)")
    parser.add_argument("--interval", type=float, metavar="S", default=5.0, help="seconds between counter lines (5)")
    parser.add_argument("--duration", type=float, metavar="S", default=0.0, help="stop after S seconds (default: run)")
    for prefix in ("", "up-", "down-"):
        for flag, (_, text, kind) in _FLAGS.items():
            name = f"--{prefix}{flag}"
            dest = f"{prefix}{flag}".replace("-", "_")
            where = f" ({prefix[:-1]} only)" if prefix else ""
            if kind == "flag":
                parser.add_argument(name, dest=dest, action="store_true", default=None, help=text + where)
            else:
                metavar = _METAVARS_BY_FLAG.get(flag, _METAVARS[kind])
                parser.add_argument(name, dest=dest, metavar=metavar, help=text + where)
    parser.set_defaults(func=run)


def _address(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise CliError(f"{flag} takes HOST:PORT, not {text!r}")
    return host, int(port)


def _value(kind: str, text: str, flag: str) -> Any:
    from hubbub.netsim import Burst

    try:
        if kind == "pct":
            pct = float(text)
            if not 0.0 <= pct <= 100.0:
                raise ValueError("a percentage is between 0 and 100")
            return pct / 100.0
        if kind == "float":
            return float(text)
        if kind == "int":
            return int(text)
        numbers = [float(x) for x in text.split(",")]
        if kind == "burst":
            if not 2 <= len(numbers) <= 4:
                raise ValueError
            return Burst(*(n / 100.0 for n in numbers))
        every, length = numbers  # outage
        return every, length
    except (ValueError, TypeError) as exc:
        detail = f": {exc}" if str(exc) else ""
        raise CliError(f"{flag}: cannot read {text!r}{detail}") from None


def impairments(args: argparse.Namespace) -> tuple[Any, Any]:
    """The (up, down) impairments the flags ask for: the profile's, then plain flags, then --up-/--down-."""
    from hubbub.netsim import Impairment, profile

    if args.profile is not None:
        try:
            chosen = profile(args.profile)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        up, down = chosen.up, chosen.down
    else:
        up = down = Impairment()
    result = []
    for direction, base in (("up", up), ("down", down)):
        changes: dict[str, Any] = {}
        for prefix in ("", f"{direction}-"):
            for flag, (field_name, _, kind) in _FLAGS.items():
                raw = getattr(args, f"{prefix}{flag}".replace("-", "_"))
                if raw is None:
                    continue
                value = raw if kind == "flag" else _value(kind, raw, f"--{prefix}{flag}")
                if field_name == "outage":
                    changes["outage_every_s"], changes["outage_s"] = value
                else:
                    changes[field_name] = value
        try:
            result.append(base.with_changes(**changes))
        except (ValueError, TypeError) as exc:
            raise CliError(f"{direction}: {exc}") from None
    return result[0], result[1]


def run(args: argparse.Namespace) -> int:
    from hubbub.netsim import PROFILES, Timeline

    if args.profiles:
        for p in PROFILES.values():
            print(json.dumps({"profile": p.name, "summary": p.summary, "up": p.up.to_dict(), "down": p.down.to_dict()}))
        return 0
    if not args.to:
        raise CliError("netsim needs --to HOST:PORT (the server's media address)")
    to = _address(args.to, "--to")
    listen = _address(args.listen, "--listen")
    tcp_to = _address(args.tcp_to, "--tcp-to") if args.tcp_to else (to if args.tcp else None)
    if args.interval <= 0 or args.duration < 0:
        raise CliError("--interval must be positive and --duration not negative")
    up, down = impairments(args)
    timeline = None
    if args.script is not None:
        try:
            timeline = Timeline.parse(args.script.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read --script {args.script}: {exc.strerror}") from None
        except ValueError as exc:
            raise CliError(f"--script {args.script}: {exc}") from None
    try:
        run_loop(_relay(args, listen, to, tcp_to, up, down, timeline))
    except OSError as exc:
        # uvloop reports a failed bind without an errno; the cause it chains carries it
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        raise CliError(f"cannot relay from {args.listen}: {cause.strerror or cause}") from None
    return 0


def run_loop(main: Any) -> Any:
    """Run on uvloop, as ``hubbub serve`` does (``hubbub bench netsim`` measures both loops)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.run(main)
    return uvloop.run(main)


def _line(data: dict[str, Any]) -> None:
    print(json.dumps(data), flush=True)


async def _relay(
    args: argparse.Namespace, listen: Any, to: Any, tcp_to: Any, up: Any, down: Any, timeline: Any
) -> None:
    from hubbub.netsim import Relay

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Relay(listen, to, up=up, down=down, tcp_to=tcp_to, seed=args.seed) as relay:
        start = loop.time()
        host, port = relay.address
        _line(
            {
                "listening": f"{host}:{port}",
                "tcp": tcp_to is not None,
                "to": f"{to[0]}:{to[1]}",
                "up": up.to_dict(),
                "down": down.to_dict(),
            }
        )
        print(f"hubbub netsim: relaying {host}:{port} -> {to[0]}:{to[1]}", file=sys.stderr, flush=True)
        if timeline is not None:

            def stepped(at: float, new_up: Any, new_down: Any) -> None:
                _line(
                    {"t": round(loop.time() - start, 3), "step": at, "up": new_up.to_dict(), "down": new_down.to_dict()}
                )

            relay.play(timeline, on_step=stepped)
        end = start + args.duration if args.duration else None
        while not stop.is_set():
            wait = args.interval if end is None else min(args.interval, end - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, wait))
            if end is not None and loop.time() >= end:
                break
            if not stop.is_set():
                _line({"t": round(loop.time() - start, 3), **relay.stats()})
        _line({"t": round(loop.time() - start, 3), "final": True, **relay.stats()})
