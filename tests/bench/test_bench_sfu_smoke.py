"""``hubbub bench sfu``: a tiny run against a real ``hubbub serve`` process, and its JSON shape."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from hubbub.bench.sfu import run_async
from hubbub.bench.sfu.loadgen import LoadGen, SimParticipant
from hubbub.bench.sfu.offer import answer_offer, publisher_offer, remote_transport
from hubbub.proto import sdp

ROW_KEYS = {
    "scenario",
    "server",
    "cpu_us_per_packet",
    "packets_per_s",
    "loss_pct",
    "delay_p50_ms",
    "delay_p99_ms",
    "generator_cpu_pct",
    "details",
}


def _check_row(row: dict[str, Any], scenario: str, server: str) -> None:
    assert set(row) == ROW_KEYS
    assert (row["scenario"], row["server"]) == (scenario, server)
    assert row["details"]["packets_delivered"] > 0
    assert row["details"]["silent_subscriptions"] == 0
    assert row["loss_pct"] == 0
    assert row["cpu_us_per_packet"] > 0 and row["packets_per_s"] > 0
    assert 0 <= row["delay_p50_ms"] <= row["delay_p99_ms"]


async def test_audio_1x3_against_hubbub() -> None:
    report = await run_async(["audio-1x3"], ["hubbub"], duration=2.0, warmup=0.5)
    assert "errors" not in report, report.get("errors")
    assert set(report) == {"results", "machine"} and report["machine"]["cpus"] >= 1
    [row] = report["results"]
    _check_row(row, "audio-1x3", "hubbub")
    # 3 subscribers x 50 packets/s of audio: every packet arrived, encrypted with the cheaper AEAD profile.
    assert 120 <= row["packets_per_s"] <= 180
    assert row["details"]["srtp_errors"] == 0
    assert row["details"]["srtp_profile"] == ["SRTP_AEAD_AES_128_GCM"]
    json.dumps(report)  # the CLI prints it as it is


async def test_sdp_the_generator_builds_parses_back() -> None:
    gen = LoadGen(secure=True)
    who = SimParticipant("pub0", ("audio", "video"), subscribes=False)
    for kind in who.kinds:
        gen.new_stream(kind, who)
    peer = await gen.new_peer()
    try:
        offer = sdp.parse(publisher_offer(peer, who.streams, gen.fingerprint, "pub0"))
        assert [m.direction for m in offer.media] == ["sendonly", "sendonly"]
        assert [m.msids[0].track_id for m in offer.media] == [s.cid for s in who.streams]
        assert [m.ssrcs[0].ssrc for m in offer.media] == [s.ssrc for s in who.streams]
        # An offer is answered recvonly and names our socket as the only candidate.
        answer = answer_offer(sdp.serialize(offer), peer, gen.fingerprint)
        remote = remote_transport(answer)
        assert remote.address == ("127.0.0.1", peer.port) and remote.setup == "active"
        assert [m.direction for m in sdp.parse(answer).media] == ["recvonly", "recvonly"]
    finally:
        await gen.stop()


def test_cli_rejects_unknown_scenario_and_server() -> None:
    for args in (["--scenario", "nope"], ["--servers", "nginx"]):
        done = subprocess.run(
            [sys.executable, "-m", "hubbub", "bench", "sfu", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and "unknown" in done.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("janus") is None, reason="janus is not installed")
async def test_audio_1x3_against_janus() -> None:
    report = await run_async(["audio-1x3"], ["janus"], duration=2.0, warmup=0.5)
    assert "errors" not in report, report.get("errors")
    _check_row(report["results"][0], "audio-1x3", "janus")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the floor forwarder needs gcc")
async def test_audio_1x3_against_the_floor() -> None:
    report = await run_async(["audio-1x3"], ["floor"], duration=1.0, warmup=0.2)
    assert "errors" not in report, report.get("errors")
    row = report["results"][0]
    assert row["server"] == "floor" and row["loss_pct"] == 0 and row["details"]["packets_delivered"] > 0
