"""Timelines: both forms parse to the same steps, steps apply per direction, mistakes are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.netsim import Burst, Impairment, Timeline, profile

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_the_documented_text_and_json_timelines_are_the_same() -> None:
    text = Timeline.parse((EXAMPLES / "netsim_timeline.txt").read_text(encoding="utf-8"))
    as_json = Timeline.parse((EXAMPLES / "netsim_timeline.json").read_text(encoding="utf-8"))
    assert text == as_json
    assert [s.at for s in text.steps] == [10, 20, 30]
    assert text.steps[1].changes == {"loss": 0.05, "burst": Burst(0.01, 0.25)}


def test_steps_apply_per_direction_and_restore_the_start() -> None:
    base = (Impairment(delay_ms=20), Impairment(delay_ms=30))
    up, down = base
    timeline = Timeline.parse("5 rate_kbps=500\n6 down profile=3g\n7 up restore\n8 restore\n")
    seen = []
    for step in timeline.steps:
        up, down = step.apply(up, down, base)
        seen.append((up, down))
    assert seen[0] == (Impairment(delay_ms=20, rate_kbps=500), Impairment(delay_ms=30, rate_kbps=500))
    assert seen[1] == (Impairment(delay_ms=20, rate_kbps=500), profile("3g").down)
    assert seen[2] == (base[0], profile("3g").down)
    assert seen[3] == base


def test_steps_are_sorted_and_due_in_turn() -> None:
    timeline = Timeline.parse('[{"at": 3, "restore": true}, {"at": 1, "loss": 0.5}]')
    assert [s.at for s in timeline.steps] == [1, 3]
    assert [s.at for s in timeline.due(2.0, 0)] == [1]
    assert [s.at for s in timeline.due(3.0, 1)] == [3]


@pytest.mark.parametrize(
    "text",
    [
        "ten rate_kbps=500",
        "10 speed=3",
        "10 rate_kbps",
        "10 profile=dialup",
        "10 restore loss=0.1",
        "-1 restore",
        "10 loss=2",
        '[{"rate_kbps": 500}]',
        '[{"at": 1, "direction": "sideways", "restore": true}]',
        "[1, 2]",
    ],
)
def test_mistakes_are_refused_before_the_run(text: str) -> None:
    with pytest.raises(ValueError):
        Timeline.parse(text)
