"""``hubbub bench netsim`` runs and reports both measurements (a short run; the 5% target is the full run's)."""

from __future__ import annotations

import json

import pytest

from hubbub.cli import main


def test_bench_netsim_prints_delay_and_rate_precision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "netsim", "--seconds", "0.5", "--pps", "1000", "--delay", "30", "--rate", "800"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["loops"]) == {"uvloop", "asyncio"} and isinstance(report["within_target"], bool)
    for run in report["loops"].values():
        assert run["delay"]["received"] == 500 and run["delay"]["asked_ms"] == 30
        assert 25 < run["delay"]["mean_ms"] < 60
        assert run["rate"]["dropped_queue"] > 0  # 1.6 Mbit/s offered to 800 kbit/s
        assert 500 < run["rate"]["measured_kbps"] < 1000


def test_bench_netsim_refuses_bad_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "netsim", "--pps", "0"])
    assert exited.value.code == 2 and "--pps: must be positive, not 0" in capsys.readouterr().err
    assert main(["bench", "netsim", "--size", "8"]) == 2
    assert "--size must be 16..1400" in capsys.readouterr().err
