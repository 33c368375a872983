"""The impairment engine on a manual clock: exact release times, drops and counters."""

from __future__ import annotations

import random

import pytest

from hubbub.netsim.engine import Burst, Impairment, Link
from hubbub.netsim.probe import loss_runs


def link(rng_seed: int = 1, origin: float = 0.0, ordered: bool = False, **fields: object) -> Link:
    return Link(Impairment().with_changes(**fields), random.Random(rng_seed), origin=origin, ordered=ordered)


def test_a_clean_link_releases_at_once() -> None:
    engine = link()
    fate = engine.submit(100, 5.0)
    assert fate.times == (5.0,) and fate.dropped is None
    assert engine.stats.to_dict()["forwarded"] == 1


def test_delay_is_added_exactly() -> None:
    engine = link(delay_ms=50)
    assert engine.submit(100, 1.0).times == pytest.approx((1.05,))
    assert engine.submit(100, 1.001).times == pytest.approx((1.051,))


def test_the_bottleneck_serializes_at_the_rate() -> None:
    engine = link(rate_kbps=800)  # 100 bytes/ms
    times = [engine.submit(1000, 0.0).times[0] for _ in range(5)]  # a burst of five 1000-byte packets
    assert times == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    assert engine.stats.queue_delay_max == pytest.approx(0.04)
    # an idle bottleneck serves the next packet at once
    assert engine.submit(1000, 1.0).times == pytest.approx((1.01,))


def test_the_queue_drops_at_the_tail_by_time() -> None:
    engine = link(rate_kbps=800, queue_ms=25)  # 10 ms per packet: waits of 0, 10, 20 fit; 30 does not
    fates = [engine.submit(1000, 0.0) for _ in range(5)]
    assert [f.dropped for f in fates] == [None, None, None, "queue", "queue"]
    assert engine.stats.dropped["queue"] == 2
    # 16 ms later the backlog has drained by 1.6 packets (busy until 30 ms): waits of 14 and 24 ms fit
    assert [engine.submit(1000, 0.016).dropped for _ in range(3)] == [None, None, "queue"]


def test_the_queue_drops_at_the_tail_by_bytes() -> None:
    engine = link(rate_kbps=800, queue_bytes=2500)
    fates = [engine.submit(1000, 0.0) for _ in range(4)]
    assert [f.dropped for f in fates] == [None, None, "queue", "queue"]  # 2000 queued + 1000 > 2500


def test_random_loss_rate() -> None:
    engine = link(loss=0.2)
    lost = sum(engine.submit(100, i / 1000).dropped == "loss" for i in range(20_000))
    assert 0.19 < lost / 20_000 < 0.21


def test_gilbert_elliott_bursts_have_the_mean_length_1_over_r() -> None:
    engine = link(burst=Burst(p=0.02, r=0.25))
    lost = [engine.submit(100, i / 1000).dropped == "burst" for i in range(100_000)]
    runs = loss_runs(lost)
    mean = sum(runs) / len(runs)
    assert 3.6 < mean < 4.4  # 1 / r = 4
    # stationary share of the bad state: p / (p + r)
    assert 0.065 < sum(lost) / len(lost) < 0.085


def test_jitter_without_reordering_keeps_release_times_monotonic() -> None:
    engine = link(delay_ms=50, jitter_ms=20)
    times = [engine.submit(100, i / 50).times[0] for i in range(2000)]  # 20 ms apart, like audio
    assert times == sorted(times)
    assert len(set(times)) > 1000  # it did jitter: a packet waits for a late one ahead of it only sometimes


def test_jitter_with_reordering_reorders_and_keeps_its_spread() -> None:
    engine = link(delay_ms=50, jitter_ms=10, reorder=True)
    sent = [i / 1000 for i in range(5000)]
    times = [engine.submit(100, t).times[0] for t in sent]
    assert times != sorted(times)
    delays = [b - a for a, b in zip(sent, times, strict=True)]
    mean = sum(delays) / len(delays)
    sd = (sum((d - mean) ** 2 for d in delays) / len(delays)) ** 0.5
    assert mean == pytest.approx(0.050, abs=0.001)
    assert sd == pytest.approx(0.010, abs=0.001)


def test_an_ordered_link_never_reorders() -> None:
    engine = link(delay_ms=50, jitter_ms=10, reorder=True, ordered=True)
    times = [engine.submit(100, i / 1000).times[0] for i in range(2000)]
    assert times == sorted(times)


def test_duplication() -> None:
    engine = link(duplicate=0.1, delay_ms=10)
    fates = [engine.submit(100, i / 1000) for i in range(10_000)]
    twice = sum(len(f.times) == 2 for f in fates)
    assert 900 < twice < 1100
    assert engine.stats.duplicated == twice and engine.stats.forwarded == 10_000


def test_outages_drop_the_last_seconds_of_each_period() -> None:
    engine = link(origin=100.0, outage_every_s=10, outage_s=2)
    at = [100.0, 107.9, 108.0, 109.99, 110.0, 118.5, 120.1]
    assert [engine.submit(100, t).dropped for t in at] == [None, None, "outage", "outage", None, "outage", None]
    assert engine.stats.dropped["outage"] == 3


def test_a_change_keeps_the_queue() -> None:
    engine = link(rate_kbps=800)
    engine.submit(1000, 0.0)
    engine.submit(1000, 0.0)  # busy until 20 ms
    engine.set(Impairment(rate_kbps=400))
    assert engine.submit(1000, 0.0).times == pytest.approx((0.04,))  # waits 20 ms, then 20 ms at half the rate


def test_same_seed_same_fates() -> None:
    a, b = link(7, loss=0.3, jitter_ms=5, reorder=True), link(7, loss=0.3, jitter_ms=5, reorder=True)
    assert [a.submit(100, i / 100) for i in range(500)] == [b.submit(100, i / 100) for i in range(500)]


@pytest.mark.parametrize(
    "fields",
    [{"loss": 1.5}, {"delay_ms": -1}, {"outage_every_s": 2, "outage_s": 3}, {"burst": {"p": 0.1, "r": 0}}, {"nope": 1}],
)
def test_bad_impairments_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Impairment().with_changes(**fields)


def test_loss_runs_counts_consecutive_losses() -> None:
    assert loss_runs([True, True, False, True, False, False, True, True, True]) == [2, 1, 3]
    assert loss_runs([]) == [] and loss_runs([False, False]) == []
