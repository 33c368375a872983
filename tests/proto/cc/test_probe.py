"""Probe clusters: which the controller starts, and the rate the feedback about one shows."""

from __future__ import annotations

import itertools

import pytest

from hubbub.proto.cc.probe import (
    MIN_PROBE_DURATION_S,
    MIN_PROBE_PACKETS,
    ProbeBitrateEstimator,
    ProbeCluster,
    ProbeController,
)


def _feed(
    est: ProbeBitrateEstimator,
    cluster: ProbeCluster,
    send_bps: float,
    link_bps: float,
    *,
    packets: int = 10,
    size: int = 1200,
    start: float = 1.0,
    drop_every: int = 0,
) -> None:
    """A cluster sent at ``send_bps`` through a link of ``link_bps`` (the link's queue spaces the
    arrivals); every ``drop_every``-th packet lost."""
    est.add_cluster(cluster, start)
    link_free = 0.0
    for i in range(packets):
        send = start + i * size * 8 / send_bps
        arrival = max(send + 0.02, link_free) + size * 8 / link_bps
        link_free = arrival
        if drop_every and i % drop_every == drop_every - 1:
            continue
        est.on_packet(cluster.id, send, arrival + 7.0, size)  # the receiver's clock is elsewhere


def test_initial_probes_at_3x_and_6x_the_start_rate() -> None:
    ctl = ProbeController(max_bps=20_000_000)
    clusters = ctl.start(300_000, 0.0)
    assert [c.bps for c in clusters] == [900_000, 1_800_000]
    assert len({c.id for c in clusters}) == 2
    for c in clusters:
        assert c.min_packets == MIN_PROBE_PACKETS
        assert c.min_bytes == int(c.bps * MIN_PROBE_DURATION_S / 8)


def test_exponential_probing_continues_while_results_reach_the_rate_probed() -> None:
    ctl = ProbeController(max_bps=10_000_000)
    ctl.start(300_000, 0.0)
    assert ctl.on_estimate(400_000, 0.1) == []  # no result yet
    (c,) = ctl.on_estimate(1_700_000, 0.2)  # the 1.8 Mbit/s probe came back near its rate
    assert c.bps == 3_400_000
    (c,) = ctl.on_estimate(3_000_000, 0.4)
    assert c.bps == 6_000_000
    assert ctl.on_estimate(3_100_000, 0.6) == []  # well under 6 Mbit/s: the path is full
    assert ctl.on_estimate(3_100_000, 2.0) == []
    assert ctl.on_estimate(9_000_000, 2.1) == []  # exponential probing has ended


def test_exponential_probing_stops_at_the_maximum_and_after_a_silent_second() -> None:
    ctl = ProbeController(max_bps=2_000_000)
    ctl.start(300_000, 0.0)
    (c,) = ctl.on_estimate(1_800_000, 0.2)
    assert c.bps == 2_000_000
    assert ctl.on_estimate(2_000_000, 0.4) == []
    quiet = ProbeController()
    quiet.start(300_000, 0.0)
    assert quiet.on_estimate(300_000, 1.5) == []
    assert quiet.on_estimate(5_000_000, 1.6) == []


def test_requests_probe_the_need_and_are_not_repeated_at_once() -> None:
    ctl = ProbeController(max_bps=5_000_000)
    assert ctl.request(800_000, 1_000_000, 0.0) == []  # the estimate covers it
    clusters = ctl.request(2_000_000, 1_000_000, 0.0)
    assert [c.bps for c in clusters] == [2_000_000, 3_000_000]
    assert ctl.request(2_000_000, 1_000_000, 1.0) == []
    assert [c.bps for c in ctl.request(2_500_000, 1_000_000, 1.0)] == [2_500_000, 3_750_000]
    assert [c.bps for c in ctl.request(2_000_000, 1_000_000, 3.5)] == [2_000_000, 3_000_000]
    assert [c.bps for c in ctl.request(4_000_000, 1_000_000, 9.0)] == [4_000_000, 5_000_000]
    assert [c.bps for c in ctl.request(9_000_000, 1_000_000, 20.0)] == [5_000_000]


def test_probe_through_a_wider_link_measures_the_send_rate() -> None:
    est = ProbeBitrateEstimator()
    c = ProbeCluster(1, 2_000_000, 5, 3750)
    _feed(est, c, 2_000_000, 10_000_000)
    assert est.result(2.0) == pytest.approx(2_000_000, rel=0.02)
    assert est.last_bps == pytest.approx(2_000_000, rel=0.02)
    assert est.result(2.1) is None  # nothing new


def test_probe_through_a_narrower_link_measures_the_link() -> None:
    est = ProbeBitrateEstimator()
    c = ProbeCluster(1, 4_000_000, 5, 7500)
    _feed(est, c, 4_000_000, 1_500_000)
    bps = est.result(2.0)
    assert bps is not None
    assert 0.9 * 1_500_000 < bps <= 1_500_000


def test_too_few_packets_of_the_cluster_give_no_result() -> None:
    est = ProbeBitrateEstimator()
    c = ProbeCluster(3, 2_000_000, 10, 12_000)
    _feed(est, c, 2_000_000, 10_000_000, packets=10, drop_every=3)  # 7 of 10 arrive
    assert est.result(2.0) is None


def test_unknown_clusters_and_bogus_timestamps_give_no_result() -> None:
    est = ProbeBitrateEstimator()
    est.on_packet(42, 1.0, 1.5, 1200)
    assert est.result(2.0) is None
    c = ProbeCluster(5, 2_000_000, 5, 3000)
    est.add_cluster(c, 1.0)
    for i in range(6):  # arrivals compressed to a tenth of the send spacing: more than 2x
        est.on_packet(5, 1.0 + i * 0.005, 3.0 + i * 0.0005, 1200)
    assert est.result(2.0) is None
    same = ProbeCluster(6, 2_000_000, 5, 3000)
    est.add_cluster(same, 1.0)
    for _ in range(6):  # all sent at once: no send interval
        est.on_packet(6, 1.0, 3.0, 1200)
    assert est.result(2.0) is None


def test_clusters_are_forgotten_after_a_while() -> None:
    est = ProbeBitrateEstimator()
    c = ProbeCluster(1, 2_000_000, 5, 3750)
    est.add_cluster(c, 1.0)
    est.result(10.0)
    est.on_packet(1, 10.0, 10.1, 1200)
    assert est.result(10.2) is None
    assert not est._clusters


def test_a_need_that_probes_do_not_meet_is_probed_less_and_less_often() -> None:
    ctl = ProbeController()
    granted = [t / 10 for t in range(0, 300) if ctl.request(2_000_000, 1_000_000, t / 10)]
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(granted)]
    assert gaps[:3] == [2.0, 4.0, 5.0] and set(gaps[3:]) == {5.0}
    assert ctl.request(3_000_000, 1_000_000, 29.95)  # a higher need is probed at once ...
    assert not ctl.request(3_000_000, 1_000_000, 31.0)
    assert ctl.request(3_000_000, 1_000_000, 32.0)  # ... and waits 2 s again


def test_a_cluster_that_arrived_bunched_gives_no_result() -> None:
    est = ProbeBitrateEstimator()
    c = ProbeCluster(1, 2_000_000, 5, 3750)
    _feed(est, c, 2_000_000, 10_000_000)  # arrivals spread over about 40 ms
    assert est.result(2.0, min_receive_s=0.06) is None
    _feed(est, ProbeCluster(2, 2_000_000, 5, 3750), 2_000_000, 10_000_000)
    assert est.result(2.0, min_receive_s=0.02) is not None
