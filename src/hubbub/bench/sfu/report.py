"""Measurement helpers: a process's CPU time from ``/proc``, delay percentiles, the machine.

CPU is read from ``/proc/<pid>/stat`` (fields 14 and 15, ``utime`` and ``stime``, in clock
ticks, summed over every thread of the process), before and after the measurement window; the
machine is shared, so wall time says nothing about what one process cost.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CpuSample", "ResultRow", "cpu_seconds", "machine", "percentile"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of ``pid``."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # fields 14, 15 counting from 1


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds of one process at one moment (``time.monotonic`` seconds)."""

    pid: int
    cpu: float
    at: float

    @classmethod
    def take(cls, pid: int, at: float) -> CpuSample:
        return cls(pid, cpu_seconds(pid), at)

    def since(self, earlier: CpuSample) -> float:
        return self.cpu - earlier.cpu


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by linear interpolation; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One scenario against one server, as ``hubbub bench sfu --json`` prints it."""

    scenario: str
    server: str
    cpu_us_per_packet: float
    packets_per_s: float
    loss_pct: float
    delay_p50_ms: float
    delay_p99_ms: float
    generator_cpu_pct: float
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        def num(x: float, digits: int) -> float | None:
            return None if math.isnan(x) else round(x, digits)

        return {
            "scenario": self.scenario,
            "server": self.server,
            "cpu_us_per_packet": num(self.cpu_us_per_packet, 2),
            "packets_per_s": num(self.packets_per_s, 1),
            "loss_pct": num(self.loss_pct, 3),
            "delay_p50_ms": num(self.delay_p50_ms, 3),
            "delay_p99_ms": num(self.delay_p99_ms, 3),
            "generator_cpu_pct": num(self.generator_cpu_pct, 1),
            "details": self.details,
        }


def machine() -> dict[str, Any]:
    """What ran the benchmark: enough to tell two result files apart."""
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 0
    return {
        "cpu_model": model,
        "cpus": cpus,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "clock_ticks_per_s": _TICKS,
    }
