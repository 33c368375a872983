"""Active speaker detection: window levels, ordering, hysteresis (RFC 6464 levels)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from hubbub.sfu.speakers import ActiveSpeakerDetector, dbov_to_level

WINDOW = 0.3


def feed(det: ActiveSpeakerDetector, levels: Mapping[str, int | None], t: float) -> list[tuple[str, float]] | None:
    """One window: 15 packets per track at the given -dBov (None: no packets, DTX)."""
    for track_id, level in levels.items():
        meter = det.meter(track_id)
        assert meter is not None
        if level is not None:
            for _ in range(15):
                meter.add(level)
    return det.update(t)


def test_dbov_to_level() -> None:
    assert dbov_to_level(0) == 1.0
    assert dbov_to_level(20) == pytest.approx(0.1)
    assert dbov_to_level(127) == pytest.approx(10 ** (-127 / 20))
    assert dbov_to_level(-5) == 1.0


def test_ordering_loudest_first_and_only_on_change() -> None:
    det = ActiveSpeakerDetector(window=WINDOW, threshold_dbov=45)
    for t in ("alice", "bob", "carol"):
        det.add_track(t)
    assert det.update(0.0) is None  # starts the first window
    levels = {"alice": 30, "bob": 20, "carol": 90}
    assert feed(det, levels, 0.3) is None  # one window is not enough
    result = feed(det, levels, 0.6)
    assert result is not None
    assert [t for t, _ in result] == ["bob", "alice"]
    bob_level = result[0][1]
    # Mean of the windows seen so far: the first (empty) window is not counted yet, 2 loud.
    assert bob_level == pytest.approx(dbov_to_level(20))
    assert feed(det, levels, 0.9) is None  # unchanged
    # Alice gets louder: windows 30, 30, 10 dBov average (in amplitude) above Bob's 20, 20, 20.
    result = feed(det, {"alice": 10, "bob": 20, "carol": 90}, 1.2)
    assert result is not None
    assert [t for t, _ in result] == ["alice", "bob"]
    expected_alice = (2 * dbov_to_level(30) + dbov_to_level(10)) / 3
    assert result[0][1] == pytest.approx(expected_alice)
    assert result[1][1] == pytest.approx(dbov_to_level(20))


def test_hysteresis_blips_and_short_pauses() -> None:
    det = ActiveSpeakerDetector(window=WINDOW, threshold_dbov=45)
    det.add_track("a")
    det.update(0.0)
    assert feed(det, {"a": 20}, 0.3) is None
    assert feed(det, {"a": 100}, 0.6) is None  # a single loud window (a cough) does not start
    assert feed(det, {"a": 100}, 0.9) is None
    assert feed(det, {"a": 20}, 1.2) is None
    started = feed(det, {"a": 20}, 1.5)
    assert started is not None and [t for t, _ in started] == ["a"]
    assert feed(det, {"a": None}, 1.8) is None  # one quiet window (a breath) does not stop
    stopped = feed(det, {"a": None}, 2.1)  # two quiet windows in a row do
    assert stopped == []


def test_late_update_closes_skipped_windows_as_silent() -> None:
    det = ActiveSpeakerDetector(window=WINDOW)
    det.add_track("a")
    det.update(0.0)
    feed(det, {"a": 10}, 0.3)
    result = feed(det, {"a": 10}, 0.6)
    assert result is not None and result[0][0] == "a"
    assert result[0][1] == pytest.approx(dbov_to_level(10))
    assert det.update(10.0) == []  # long silence: three empty windows
    assert det.update(10.1) is None


def test_vad_bit_can_gate_levels() -> None:
    det = ActiveSpeakerDetector(window=WINDOW, use_vad_bit=True)
    meter = det.add_track("a")
    det.update(0.0)
    for t in (0.3, 0.6, 0.9):
        for _ in range(10):
            meter.add(10, voice=False)  # loud but flagged as not speech (RFC 6464 §3 V bit)
        assert det.update(t) is None
    assert det.speakers() == []


def test_removed_track_disappears() -> None:
    det = ActiveSpeakerDetector(window=WINDOW)
    det.add_track("a")
    det.update(0.0)
    feed(det, {"a": 10}, 0.3)
    assert feed(det, {"a": 10}, 0.6) is not None
    det.remove_track("a")
    assert det.meter("a") is None
    assert det.update(0.9) == []


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError):
        ActiveSpeakerDetector(window=0)
    with pytest.raises(ValueError):
        ActiveSpeakerDetector(history=2, min_windows=3)
