"""``hubbub bench sfu``: CPU per forwarded packet of Hubbub, Janus and the kernel floor.

One load generator (:mod:`.loadgen`: the scenarios and the media pacer; :mod:`.peer`: one
simulated peer connection; :mod:`.offer`: their SDP) plays every participant of a scenario
against one server at a time (:mod:`.run`), started in its own process so that its CPU is
measured alone (:mod:`.report`):
Hubbub (:mod:`.hubbub_target`), the Janus videoroom (:mod:`.janus_target`) and a C forwarder
with no SRTP that shows what the kernel alone costs (:mod:`.floor`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hubbub.bench.sfu.loadgen import SCENARIOS, Scenario
from hubbub.bench.sfu.report import machine
from hubbub.bench.sfu.run import Target, run_scenario

__all__ = ["DEFAULT_SCENARIOS", "SCENARIOS", "SERVERS", "available_servers", "make_target", "run", "run_async"]

SERVERS = ("hubbub", "janus", "floor")
DEFAULT_SCENARIOS = ("audio-1x200", "video-1x50", "meeting-6x6")


def make_target(server: str) -> Target:
    if server == "hubbub":
        from hubbub.bench.sfu.hubbub_target import HubbubTarget

        return HubbubTarget()
    if server == "janus":
        from hubbub.bench.sfu.janus_target import JanusTarget

        return JanusTarget()
    if server == "floor":
        from hubbub.bench.sfu.floor import FloorTarget

        return FloorTarget()
    raise ValueError(f"unknown server {server!r}: choose from {', '.join(SERVERS)}")


def available_servers() -> tuple[list[str], dict[str, str]]:
    """The servers this machine can run, and why each other one cannot."""
    import shutil

    from hubbub.bench.sfu.janus_target import JanusError, find_janus

    usable, missing = ["hubbub"], {}
    try:
        find_janus()
        usable.append("janus")
    except JanusError as exc:
        missing["janus"] = str(exc)
    if shutil.which("gcc") or shutil.which("cc"):
        usable.append("floor")
    else:
        missing["floor"] = "no C compiler (gcc) on PATH"
    return usable, missing


async def run_async(
    scenarios: Sequence[str],
    servers: Sequence[str],
    *,
    duration: float = 10.0,
    warmup: float = 2.0,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Run every scenario against every server, one after the other; failures become ``errors``."""
    results: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    plan: list[tuple[Scenario, str]] = [(SCENARIOS[name], server) for name in scenarios for server in servers]
    for scenario, server in plan:
        try:
            row = await run_scenario(make_target(server), scenario, duration=duration, warmup=warmup, log=log)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            log(f"{scenario.name} on {server} failed: {message}")
            errors.append({"scenario": scenario.name, "server": server, "error": message})
            continue
        results.append(row.as_dict())
        log(f"{scenario.name} on {server}: {row.cpu_us_per_packet:.2f} us/packet, loss {row.loss_pct:.3f} %")
    report: dict[str, Any] = {"results": results, "machine": machine()}
    if errors:
        report["errors"] = errors
    return report


def run(
    scenarios: Sequence[str],
    servers: Sequence[str],
    *,
    duration: float = 10.0,
    warmup: float = 2.0,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """:func:`run_async` on uvloop (the generator's receive path is cheaper there)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(run_async(scenarios, servers, duration=duration, warmup=warmup, log=log))
    return uvloop.run(run_async(scenarios, servers, duration=duration, warmup=warmup, log=log))
