"""``hubbub bench netsim``: how precisely the relay delays and rate-limits at 2,000 packets/s.

Two runs over loopback UDP, each with an in-process echo target on the same loop clock, so a
packet's one-way time through the relay is measured, not estimated from a round trip:

- **delay**: ``--pps`` packets/s through an up direction with only ``--delay`` ms; the error is the
  mean one-way time's distance from the asked delay.
- **rate**: the same packet rate, offered above a ``--rate`` kbit/s bottleneck with a 200 ms
  queue; the error is the rate the target received over the run against the rate asked, counting
  each packet as the bottleneck does: its payload and 28 bytes of IPv4 and UDP headers.

Each runs on uvloop (``hubbub netsim``'s loop; its clock and timers have millisecond resolution)
and on asyncio's selector loop (what a test or an embedding program may run the relay on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from typing import Any

from hubbub.netsim import Impairment, Relay
from hubbub.netsim.probe import echo_server, probe

TARGET_PCT = 5.0
IPV4_UDP_HEADERS = 28


def _positive(kind: type[float] | type[int]) -> Any:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    return parse


def register(inner: Any) -> None:
    parser = inner.add_parser("netsim", help="precision of the impairment relay's delay and rate at 2,000 packets/s")
    parser.add_argument("--seconds", type=_positive(float), default=5.0, help="seconds per run (default 5)")
    parser.add_argument("--pps", type=_positive(int), default=2000, help="packets per second (default 2000)")
    parser.add_argument("--delay", type=_positive(float), default=50.0, help="delay asked, ms (default 50)")
    parser.add_argument("--rate", type=_positive(float), default=2000.0, help="bottleneck asked, kbit/s (default 2000)")
    parser.add_argument("--size", type=_positive(int), default=200, help="packet payload bytes (default 200)")
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    parser.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    if not 16 <= args.size <= 1400:
        print("hubbub: --size must be 16..1400 bytes", file=sys.stderr)
        return 2
    print(json.dumps(run(args.seconds, args.pps, args.delay, args.rate, args.size)))
    return 0


def run(seconds: float, pps: int, delay_ms: float, rate_kbps: float, size: int) -> dict[str, Any]:
    """Both measurements on uvloop (what ``hubbub netsim`` runs on) and on asyncio's own loop."""
    import uvloop

    loops = {
        "uvloop": uvloop.run(_run(seconds, pps, delay_ms, rate_kbps, size)),
        "asyncio": asyncio.run(_run(seconds, pps, delay_ms, rate_kbps, size)),
    }
    return {
        "pps": pps,
        "seconds": seconds,
        "size": size,
        "loops": loops,
        "target_pct": TARGET_PCT,
        "within_target": all(r["within_target"] for r in loops.values()),
    }


def _pct(measured: float, asked: float) -> float:
    return round(abs(measured - asked) / asked * 100, 2)


async def _run(seconds: float, pps: int, delay_ms: float, rate_kbps: float, size: int) -> dict[str, Any]:
    count = int(seconds * pps)
    async with echo_server() as target, Relay(to=target.address, up=Impairment(delay_ms=delay_ms), seed=1) as relay:
        sent = await probe(relay.address, count, pps, size, settle=delay_ms / 1000 + 0.5)
        relay_stats = relay.stats()
    one_way = sorted(
        (target.protocol.arrivals[s] - t) * 1000 for s, t in sent.sent.items() if s in target.protocol.arrivals
    )
    offered = (max(sent.sent.values()) - min(sent.sent.values())) or 1.0
    delay = {
        "asked_ms": delay_ms,
        "packets": count,
        "received": len(one_way),
        "offered_pps": round((count - 1) / offered, 1),
        "mean_ms": round(statistics.fmean(one_way), 3),
        "p50_ms": round(one_way[len(one_way) // 2], 3),
        "p95_ms": round(one_way[int(len(one_way) * 0.95)], 3),
        "max_ms": round(one_way[-1], 3),
        "error_pct": _pct(statistics.fmean(one_way), delay_ms),
        "send_late_ms_mean": relay_stats["late_ms_mean"],
        "send_late_ms_max": relay_stats["late_ms_max"],
    }
    bottleneck = Impairment(rate_kbps=rate_kbps, queue_ms=200)
    async with echo_server() as target, Relay(to=target.address, up=bottleneck, seed=1) as relay:
        await probe(relay.address, count, pps, size, settle=0.5)
        up = relay.stats()["up"]
    arrivals = target.protocol.bytes_at
    # the first packet starts the clock; the bytes after it arrived over (last - first)
    span = arrivals[-1][0] - arrivals[0][0]
    measured = sum(n + IPV4_UDP_HEADERS for _, n in arrivals[1:]) * 8 / span / 1000 if span > 0 else 0.0
    rate = {
        "asked_kbps": rate_kbps,
        "offered_kbps": round(pps * (size + IPV4_UDP_HEADERS) * 8 / 1000, 1),
        "measured_kbps": round(measured, 1),
        "error_pct": _pct(measured, rate_kbps),
        "forwarded": up["forwarded"],
        "dropped_queue": up["dropped"]["queue"],
        "queue_delay_ms_max": up["queue_delay_ms_max"],
    }
    return {
        "delay": delay,
        "rate": rate,
        "within_target": delay["error_pct"] <= TARGET_PCT and rate["error_pct"] <= TARGET_PCT,
    }
