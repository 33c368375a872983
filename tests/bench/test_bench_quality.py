"""``hubbub bench quality``: the smallest scenario (clean, subscriber's leg, 10 s: the spoken text) for
hubbub, peer to peer and (where it is installed) Janus in Chromium through the CLI, and its JSON shape;
the result records and the table from collected samples, without a browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from hubbub.bench.quality import FIELDS, result, table
from hubbub.bench.setup import available


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubbub", "bench", "quality", *args], capture_output=True, text=True, timeout=240
    )


@pytest.mark.slow
def test_the_clean_subscriber_leg_is_measured_for_hubbub_p2p_and_janus() -> None:
    why = available()
    if why is not None:
        if os.environ.get("HUBBUB_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"HUBBUB_REQUIRE_CHROMIUM=1 but {why}")
        pytest.skip(why)
    servers = ["hubbub", "janus", "p2p"] if shutil.which("janus") else ["hubbub", "p2p"]
    done = _bench(
        "--profile", "clean", "--leg", "subscriber", "--seconds", "10", "--servers", ",".join(servers), "--json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == [] and report["browser"].startswith("Chromium ")
    by_server = {r["server"]: r for r in report["results"]}
    assert sorted(by_server) == servers, report
    for record in by_server.values():
        assert set(FIELDS) <= set(record), record
        assert (record["scenario"], record["leg"]) == ("clean", "subscriber")
        assert record["recv_kbps"] > 0 and record["send_kbps"] > 0, record
        assert record["width"] > 0 and record["height"] > 0 and record["fps"] > 0, record
        assert record["e2e_delay_ms_p50"] is not None and 0 <= record["e2e_delay_ms_p50"] <= record["e2e_delay_ms_p95"]
        assert record["freeze_count"] is not None and record["audio_concealed_pct"] is not None, record
        assert record["wer"] is not None and 0 <= record["wer"] < 0.5, record  # the spoken text, heard
        assert record["adapt_s"] is None, record  # no step in this scenario
        assert record["quality_limitation_reason"] in ("none", "bandwidth", "cpu", "other"), record
    assert by_server["p2p"]["relay_forwarded"] > 0  # the peer-to-peer media crossed the relay


def _sample(at: float, kind: str, direction: str, **counters: Any) -> dict[str, Any]:
    return {"at_ms": at, "kind": kind, "direction": direction, "stream_id": f"{kind}-{direction}", **counters}


def test_a_result_joins_the_receivers_and_the_senders_summaries() -> None:
    received = {
        "samples": [
            _sample(0, "video", "inbound", bytes=0, frames=0, frame_width=640, frame_height=360),
            _sample(1000, "video", "inbound", bytes=100_000, frames=30, frame_width=640, frame_height=360),
            _sample(2000, "video", "inbound", bytes=162_500, frames=60, frame_width=640, frame_height=360),
        ],
        "renderMs": [i * 33.0 for i in range(61)],
        "e2eDelaysMs": [20.0, 30.0, 40.0],
    }
    sent = {
        "samples": [
            _sample(5, "video", "outbound", bytes=0, frames=0, frame_width=640, frame_height=360),
            _sample(
                2005,
                "video",
                "outbound",
                bytes=250_000,
                frames=60,
                frame_width=640,
                frame_height=360,
                quality_limitation_reason="bandwidth",
            ),
        ]
    }
    record = result("hubbub", "step-3m-500k", "subscriber", received, sent, step=(1.0, 500.0, 2.0))
    assert list(record)[: len(FIELDS)] == list(FIELDS)
    assert record["recv_kbps"] == 650.0 and record["send_kbps"] == 1000.0
    assert record["recv_kbps_end"] == 650.0  # the mean of 800 and 500, the readings in the last 5 s
    assert (record["width"], record["height"], record["fps"]) == (640, 360, 30.0)
    assert record["e2e_delay_ms_p50"] == 30.0 and record["freeze_count"] == 0
    assert record["quality_limitation_reason"] == "bandwidth"
    assert record["adapt_s"] == 1.0  # 500 kbit/s from the reading at 2 s, a second after the step
    assert record["adapt_freeze_ms"] == 0.0
    assert record["wer"] is None and record["audio_concealed_pct"] is None  # no speech, no audio samples
    assert result("p2p", "clean", "both", received, received, wer=0.25)["wer"] == 0.25
    lines = table([record]).splitlines()
    assert len(lines) == 2 and "recv kb/s" in lines[0] and "650.0" in lines[1] and "bandwidth" in lines[1]


def test_an_unknown_profile_is_refused() -> None:
    done = _bench("--profile", "moon")
    assert done.returncode == 2 and "unknown profile 'moon'" in done.stderr
