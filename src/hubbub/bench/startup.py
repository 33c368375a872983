"""Cold start of ``hubbub serve``: process launch to the ready banner, with an empty SQLite."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


def _one(data_dir: str) -> tuple[float, float]:
    env = dict(os.environ, HUBBUB_LOG_FORMAT="json", HUBBUB_LOG_LEVEL="warning")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubbub", "serve", "--port", "0", "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "is ready" in line:
                ready = time.perf_counter() - started
                break
        else:
            raise RuntimeError("hubbub serve exited before it was ready")
        proc.send_signal(signal.SIGTERM)
        t0 = time.perf_counter()
        proc.wait(timeout=20)
        return ready, time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run(runs: int = 3) -> dict[str, Any]:
    ready: list[float] = []
    stop: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as data_dir:
            r, s = _one(data_dir)
            ready.append(r)
            stop.append(s)
    return {
        "runs": runs,
        "cold_start_ms_median": round(statistics.median(ready) * 1000, 1),
        "cold_start_ms_min": round(min(ready) * 1000, 1),
        "sigterm_to_exit_ms_median": round(statistics.median(stop) * 1000, 1),
    }
