"""``hubbub bench setup``: one run in Chromium through the CLI, and its JSON shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hubbub.bench.setup import available


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubbub", "bench", "setup", *args], capture_output=True, text=True, timeout=120
    )


def test_one_run_prints_the_setup_time() -> None:
    why = available()
    if why is not None:
        if os.environ.get("HUBBUB_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"HUBBUB_REQUIRE_CHROMIUM=1 but {why}")
        pytest.skip(why)
    done = _bench("--runs", "1", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["runs"] == 1 and len(record["setup_ms"]) == 1
    assert 0 < record["setup_ms_min"] == record["setup_ms_max"] == record["setup_ms"][0] < 20_000
    assert 0 < record["joined_ms_p50"] < record["setup_ms_p50"]
    assert sum(record["first_frame_via"].values()) == 1 and record["target_ms"] == 300.0
    assert record["browser"].startswith("Chromium ")


def test_bad_runs_is_a_cli_error() -> None:
    done = _bench("--runs", "0")
    assert done.returncode != 0 and "--runs must be at least 1" in done.stderr
