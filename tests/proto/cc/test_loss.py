"""GCC's loss-based controller (draft-ietf-rmcat-gcc-02 §6), driven with synthetic counts."""

from __future__ import annotations

import random

import pytest

from hubbub.proto.cc.loss import MIN_PACKETS, LossBasedEstimator


def _run(est: LossBasedEstimator, loss: float, seconds: float, start: float = 0.0, dt: float = 0.05) -> float:
    """Feedback every ``dt`` of 50 packets with ``loss`` of them lost; returns the last ``now``."""
    now = start
    while now < start + seconds:
        now += dt
        est.on_packets(round(50 * loss), 50, now)
    return now


def test_low_loss_increases_by_8_percent_at_most_once_per_200ms_plus_rtt() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    est.set_rtt(0.1)
    est.on_loss(0.0, 10.0)
    assert est.estimate_bps == pytest.approx(1_081_000)
    est.on_loss(0.0, 10.2)  # 200 ms: the RTT is not over yet
    assert est.estimate_bps == pytest.approx(1_081_000)
    est.on_loss(0.01, 10.31)
    assert est.estimate_bps == pytest.approx(1_081_000 * 1.08 + 1000)


def test_lossless_link_grows_about_8_percent_per_300ms() -> None:
    est = LossBasedEstimator(start_bps=500_000, max_bps=10_000_000)
    est.set_rtt(0.1)
    _run(est, 0.0, 3.0)
    # 3 s / 0.3 s = 10 steps of 8%: about 2.16x
    assert 1_000_000 < est.estimate_bps < 1_200_000


def test_high_loss_decreases_by_half_the_loss_once_per_300ms_plus_rtt() -> None:
    est = LossBasedEstimator(start_bps=2_000_000)
    est.set_rtt(0.05)
    est.on_loss(0.2, 1.0)
    assert est.estimate_bps == pytest.approx(2_000_000 * 0.9)
    est.on_loss(0.2, 1.2)  # the same burst of losses reported again: no second cut
    assert est.estimate_bps == pytest.approx(1_800_000)
    est.on_loss(0.2, 1.36)
    assert est.estimate_bps == pytest.approx(1_800_000 * 0.9)


def test_moderate_loss_holds() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    _run(est, 0.06, 5.0)
    assert est.estimate_bps == 1_000_000
    assert est.loss == pytest.approx(0.06)


def test_ten_percent_loss_never_increases_one_percent_does() -> None:
    lossy = LossBasedEstimator(start_bps=1_000_000)
    _run(lossy, 0.12, 5.0)
    assert lossy.estimate_bps < 700_000
    light = LossBasedEstimator(start_bps=1_000_000)
    _run(light, 0.01, 5.0)
    assert light.estimate_bps > 2_000_000


def test_counts_pool_until_enough_packets() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    for i in range(MIN_PACKETS // 4 - 1):
        est.on_packets(1, 4, 1.0 + i * 0.01)  # 25% lost, but too few packets to judge yet
    assert est.updates == 0 and est.estimate_bps == 1_000_000
    est.on_packets(1, 4, 1.1)
    assert est.updates == 1 and est.loss == pytest.approx(0.25)
    assert est.estimate_bps == pytest.approx(1_000_000 * 0.875)


def test_sparse_packets_are_judged_after_two_seconds() -> None:
    est = LossBasedEstimator(start_bps=100_000)
    est.on_packets(0, 2, 0.0)
    est.on_packets(1, 2, 1.0)
    assert est.updates == 0
    est.on_packets(1, 2, 2.0)
    assert est.updates == 1 and est.loss == pytest.approx(2 / 6)


def test_bounds_and_cap() -> None:
    est = LossBasedEstimator(start_bps=40_000, min_bps=30_000, max_bps=100_000)
    _run(est, 0.5, 10.0)
    assert est.estimate_bps == 30_000
    _run(est, 0.0, 30.0, start=10.0)
    assert est.estimate_bps == 100_000
    est.cap(50_000)
    assert est.estimate_bps == 50_000
    est.cap(10_000)
    assert est.estimate_bps == 30_000
    est.set_estimate(1e9, 50.0)
    assert est.estimate_bps == 100_000
    with pytest.raises(ValueError):
        LossBasedEstimator(min_bps=0)


def test_nonsense_counts_do_not_raise() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    est.on_packets(5, 0, 1.0)
    est.on_packets(-3, 30, 1.1)  # a negative loss counts as none
    assert est.updates == 1 and est.loss == 0.0
    est.on_packets(99, 30, 1.5)  # more lost than reported: all lost
    assert est.updates == 2 and est.loss == 0.5  # over both pools of the last second


def test_high_loss_cuts_to_no_more_than_the_acknowledged_rate() -> None:
    est = LossBasedEstimator(start_bps=8_000_000)
    est.on_loss(0.4, 1.0, acked_bps=2_000_000)
    assert est.estimate_bps == 2_000_000
    est.on_loss(0.4, 2.0, acked_bps=5_000_000)  # the usual cut is lower
    assert est.estimate_bps == pytest.approx(1_600_000)
    est.on_loss(0.0, 3.0, acked_bps=100_000)  # only a cut is bounded
    assert est.estimate_bps > 1_600_000


def test_the_fraction_is_taken_over_the_last_second() -> None:
    """5% random loss in pools of 20 packets: a pool alone often shows none (and would increase),
    the last second's pools together hold the rate."""
    rng = random.Random(3)
    est = LossBasedEstimator(start_bps=1_000_000)
    now = 0.0
    for _ in range(200):
        now += 0.05
        est.on_packets(sum(rng.random() < 0.05 for _ in range(20)), 20, now)
    assert est.estimate_bps == pytest.approx(1_000_000, rel=0.1)
    assert est.loss is not None and 0.02 < est.loss < 0.1
    for _ in range(30):  # the losses stop: increases resume once they leave the window
        now += 0.05
        est.on_packets(0, 20, now)
    assert est.loss == 0.0 and est.estimate_bps > 1_100_000


def _lossy(est: LossBasedEstimator, loss: float, seconds: float, queue_s: float | None, seed: int = 5) -> None:
    rng = random.Random(seed)
    now = 0.0
    while now < seconds:
        now += 0.05
        est.on_packets(sum(rng.random() < loss for _ in range(30)), 30, now, 900_000, queue_s)


def test_loss_with_an_empty_queue_is_learnt_as_the_paths_own() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    _lossy(est, 0.15, 10.0, queue_s=0.005)
    assert est.inherent_loss == pytest.approx(0.15, abs=0.04)
    assert est.estimate_bps > 2_000_000  # the excess over the path's own loss is about none


def test_loss_with_a_full_queue_is_congestion() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    _lossy(est, 0.15, 10.0, queue_s=0.2)
    assert est.inherent_loss == 0.0
    assert est.estimate_bps < 600_000  # cut, and the first cut no higher than the acked 900 kbit/s
    unknown = LossBasedEstimator(start_bps=1_000_000)
    _lossy(unknown, 0.15, 10.0, queue_s=None)  # no queue known: plain GCC
    assert unknown.inherent_loss == 0.0 and unknown.estimate_bps < 600_000


def test_congestion_on_top_of_the_paths_own_loss_is_cut() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    _lossy(est, 0.10, 10.0, queue_s=0.005)
    learnt = est.inherent_loss
    before = est.estimate_bps
    _lossy(est, 0.35, 2.0, queue_s=0.25, seed=6)  # the queue overflows: 35% lost
    assert est.inherent_loss == learnt
    assert est.estimate_bps <= min(before * 0.85, 900_000)


def test_an_outage_is_not_learnt_as_the_paths_own_loss() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    est.on_packets(0, 40, 1.0, queue_s=0.0)
    est.on_packets(180, 200, 3.0, queue_s=0.0)  # two seconds of packets reported lost at once
    assert est.inherent_loss == 0.0
    assert est.estimate_bps < 1_000_000


def _sending(est: LossBasedEstimator, pps: float, loss: float, acked_bps: float, start: float, seconds: float) -> float:
    """Feedback every 50 ms for ``pps`` packets a second, ``loss`` of them lost, an empty queue."""
    now = start
    while now < start + seconds:
        now += 0.05
        n = round(pps * 0.05)
        est.on_packets(round(n * loss), n, now, acked_bps, 0.0)
    return now


def test_loss_that_grows_into_a_rate_limit_is_not_the_paths_own() -> None:
    """A policer: sending 30% faster, the path delivers no more packets and loses the rest."""
    est = LossBasedEstimator(start_bps=1_000_000)
    now = _sending(est, 200, 0.10, 900_000, 0.0, 5.0)  # 180 a second delivered
    assert est.inherent_loss > 0.05
    before = est.estimate_bps
    now = _sending(est, 260, 0.31, 900_000, now, 3.0)  # still 180
    assert est.inherent_loss <= 0.11  # only the loss at the lower rate stays the path's own
    # the rest counts as congestion: cut, to no more than what delivers 900 kbit/s through 10%
    assert est.estimate_bps < min(before, 1_000_000 + 1)


def test_loss_that_scales_with_the_rate_stays_the_paths_own() -> None:
    est = LossBasedEstimator(start_bps=1_000_000)
    now = _sending(est, 200, 0.10, 900_000, 0.0, 5.0)
    now = _sending(est, 400, 0.10, 1_800_000, now, 3.0)
    assert est.inherent_loss == pytest.approx(0.10, abs=0.02)
    assert est.estimate_bps > 1_000_000
