"""The relay over real UDP, each impairment measured (tolerances wide enough for a busy machine;
the 5% precision figures are ``hubbub bench netsim``'s)."""

from __future__ import annotations

import asyncio
import statistics

import pytest
import uvloop

from hubbub.netsim import Burst, Impairment, Relay, Timeline
from hubbub.netsim.probe import Echo, echo_server, loss_runs
from hubbub.netsim.probe import probe as send_through


async def test_a_clean_relay_forwards_both_ways_with_one_upstream_address_per_client(echo: Echo) -> None:
    async with Relay(to=echo.address, seed=1) as relay:
        first, second = await asyncio.gather(
            send_through(relay.address, 50, 500, settle=0.2), send_through(relay.address, 50, 500, settle=0.2)
        )
        assert len(first.arrivals) == 50 and len(second.arrivals) == 50
        assert len(echo.protocol.sources) == 2  # each client its own upstream socket
        stats = relay.stats()
        assert stats["flows"] == 2
        assert stats["up"]["forwarded"] == 100 and stats["down"]["forwarded"] == 100


async def test_loss_is_applied_per_direction(echo: Echo) -> None:
    async with Relay(to=echo.address, up=Impairment(loss=0.2), seed=2) as relay:
        got = await send_through(relay.address, 2000, 2000)
        stats = relay.stats()
    assert stats["up"]["submitted"] == 2000 and stats["up"]["dropped"]["loss"] == 2000 - stats["up"]["forwarded"]
    assert 0.15 < stats["up"]["dropped"]["loss"] / 2000 < 0.25
    assert stats["down"]["dropped_total"] == 0
    # what the relay forwarded came back (a loaded machine may lose a few in socket buffers)
    assert 0.95 * stats["up"]["forwarded"] <= len(got.arrivals) <= stats["up"]["forwarded"]


async def test_burst_loss_comes_in_runs(echo: Echo) -> None:
    async with Relay(to=echo.address, down=Impairment(burst=Burst(p=0.02, r=0.2)), seed=3) as relay:
        got = await send_through(relay.address, 3000, 2000)
    lost = [seq not in got.arrivals for seq in range(3000)]
    runs = loss_runs(lost)
    assert runs and 3 < statistics.mean(runs) < 8  # 1 / r = 5


async def test_delay_and_jitter(echo: Echo) -> None:
    async with Relay(to=echo.address, up=Impairment(delay_ms=40, jitter_ms=10, reorder=True), seed=4) as relay:
        got = await send_through(relay.address, 1000, 500)
        assert relay.stats()["late_ms_mean"] < 20
    delays = got.delays()
    assert len(delays) == 1000
    assert 0.038 < statistics.median(delays) < 0.090
    assert 0.005 < statistics.stdev(delays) < 0.040
    assert got.order != sorted(got.order)  # reordered


async def test_jitter_without_reordering_keeps_the_order(echo: Echo) -> None:
    async with Relay(to=echo.address, up=Impairment(delay_ms=20, jitter_ms=10), seed=5):
        pass
    async with Relay(to=echo.address, up=Impairment(delay_ms=20, jitter_ms=10), seed=5) as relay:
        got = await send_through(relay.address, 500, 100)
    assert len(got.order) == 500 and got.order == sorted(got.order)
    assert statistics.stdev(got.delays()) > 0.003


async def test_duplication(echo: Echo) -> None:
    async with Relay(to=echo.address, up=Impairment(duplicate=0.1), seed=6) as relay:
        got = await send_through(relay.address, 1000, 1000)
        duplicated = relay.stats()["up"]["duplicated"]
    assert 60 < duplicated < 140
    twice = sum(len(t) == 2 for t in got.arrivals.values())
    assert 0.9 * duplicated <= twice <= duplicated


async def test_the_rate_limit_and_its_tail_drop(echo: Echo) -> None:
    # 2,000 packets/s of 200 bytes is 3.6 Mbit/s (with headers) offered to a 1 Mbit/s bottleneck, 100 ms queue
    async with Relay(to=echo.address, up=Impairment(rate_kbps=1000, queue_ms=100), seed=7) as relay:
        got = await send_through(relay.address, 2000, 2000)
        stats = relay.stats()["up"]
    first, last = min(t[0] for t in got.arrivals.values()), max(t[0] for t in got.arrivals.values())
    kbps = (len(got.arrivals) - 1) * (200 + 28) * 8 / (last - first) / 1000  # IPv4 and UDP headers count
    assert 700 < kbps < 1100
    assert stats["dropped"]["queue"] > 1000
    assert 80 < stats["queue_delay_ms_max"] <= 100


async def test_outages(echo: Echo) -> None:
    async with Relay(to=echo.address, up=Impairment(outage_every_s=0.5, outage_s=0.2), seed=8) as relay:
        got = await send_through(relay.address, 1000, 1000)
        stats = relay.stats()["up"]
    assert 0.25 < stats["dropped"]["outage"] / 1000 < 0.55
    assert len(got.arrivals) <= stats["forwarded"] and 0.45 < len(got.arrivals) / 1000 < 0.75


async def test_a_timeline_changes_the_impairment_on_time(echo: Echo) -> None:
    timeline = Timeline.parse("0.3 up loss=1\n0.6 restore\n")
    async with Relay(to=echo.address, seed=9) as relay:
        steps: list[float] = []
        relay.play(timeline, on_step=lambda at, up, down: steps.append(at))
        got = await send_through(relay.address, 900, 1000)
    assert steps == [0.3, 0.6]
    lost = [seq for seq in range(900) if seq not in got.arrivals]
    assert 200 < len(lost) < 400
    assert 250 < statistics.median(lost) < 650  # the hole is in the middle third
    assert all(seq in got.arrivals for seq in range(0, 100))
    assert all(seq in got.arrivals for seq in range(750, 900))


async def test_set_changes_a_running_relay(echo: Echo) -> None:
    async with Relay(to=echo.address, seed=10) as relay:
        await send_through(relay.address, 20, 500, settle=0.1)
        relay.set(down="lossy-30")
        assert relay.down.loss == 0.3 and relay.up.loss == 0
        got = await send_through(relay.address, 1000, 2000)
        down = relay.stats()["down"]
    assert 0.2 < down["dropped"]["loss"] / (down["submitted"] - 20) < 0.4
    assert len(got.arrivals) <= 1000 - down["dropped"]["loss"]


def test_the_relay_runs_on_uvloop() -> None:
    """``hubbub netsim`` runs on uvloop, whose timer handles differ from asyncio's."""

    async def run() -> tuple[int, float]:
        async with echo_server() as target:
            impaired = Impairment(delay_ms=20, jitter_ms=5, rate_kbps=2000)
            async with Relay(to=target.address, up=impaired, down=impaired, seed=13) as relay:
                got = await send_through(relay.address, 300, 1000, settle=0.3)
        return len(got.arrivals), statistics.median(got.delays())

    received, median = uvloop.run(run())
    assert received == 300
    assert 0.035 < median < 0.200  # 20 ms each way (and a loaded machine's wait)


async def test_a_relay_without_a_target_port_is_refused() -> None:
    with pytest.raises(ValueError, match="target's port"):
        await Relay(to=("127.0.0.1", 0)).start()
