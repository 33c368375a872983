"""Named network profiles: an impairment for each direction (up = client to server, down = back).

Each profile's figures and where they come from are in docs/network-lab.md; the table there is
checked against this module by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubbub.netsim.engine import Burst, Impairment


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    summary: str
    up: Impairment
    down: Impairment


def _both(name: str, summary: str, impairment: Impairment) -> Profile:
    return Profile(name, summary, impairment, impairment)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        _both("clean", "no impairment: the relay only forwards", Impairment()),
        _both(
            "wifi",
            "home Wi-Fi with some contention: short delay, jitter without reordering, a little burst loss",
            Impairment(delay_ms=5, jitter_ms=3, burst=Burst(p=0.005, r=0.5), rate_kbps=30_000, queue_ms=100),
        ),
        Profile(
            "4g",
            "a good LTE cell: 40 ms one way, 10 ms jitter, 12 Mbit/s down, 5 Mbit/s up, 0.5% loss",
            up=Impairment(delay_ms=40, jitter_ms=10, loss=0.005, rate_kbps=5_000, queue_ms=200),
            down=Impairment(delay_ms=40, jitter_ms=10, loss=0.005, rate_kbps=12_000, queue_ms=200),
        ),
        _both(
            "3g",
            "a regular 3G link (Lighthouse's 300 ms round trip, 700 kbit/s each way), 20 ms jitter, 1% loss",
            Impairment(delay_ms=150, jitter_ms=20, loss=0.01, rate_kbps=700, queue_ms=300),
        ),
        _both("lossy-10", "10% random loss, 20 ms one way", Impairment(loss=0.10, delay_ms=20)),
        _both("lossy-30", "30% random loss, 20 ms one way", Impairment(loss=0.30, delay_ms=20)),
        _both("loss-20", "20% random loss, 20 ms one way", Impairment(loss=0.20, delay_ms=20)),
        _both("loss-40", "40% random loss, 20 ms one way", Impairment(loss=0.40, delay_ms=20)),
        _both("loss-60", "60% random loss, 20 ms one way", Impairment(loss=0.60, delay_ms=20)),
        _both("loss-80", "80% random loss, 20 ms one way", Impairment(loss=0.80, delay_ms=20)),
        _both(
            "congested-1m",
            "a 1 Mbit/s bottleneck with a 200 ms tail-drop queue, 20 ms one way",
            Impairment(rate_kbps=1_000, queue_ms=200, delay_ms=20),
        ),
        _both(
            "congested-300k",
            "a 300 kbit/s bottleneck with a 200 ms tail-drop queue, 20 ms one way",
            Impairment(rate_kbps=300, queue_ms=200, delay_ms=20),
        ),
        Profile(
            "satellite",
            "geostationary: 300 ms one way (about 600 ms round trip), 1 Mbit/s up, 10 Mbit/s down, 0.5% loss",
            up=Impairment(delay_ms=300, jitter_ms=10, loss=0.005, rate_kbps=1_000, queue_ms=500),
            down=Impairment(delay_ms=300, jitter_ms=10, loss=0.005, rate_kbps=10_000, queue_ms=500),
        ),
        _both(
            "flaky",
            "a 2 s outage every 10 s, 30 ms one way, 1% loss",
            Impairment(outage_every_s=10, outage_s=2, delay_ms=30, loss=0.01),
        ),
    )
}


def profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}: choose from {', '.join(PROFILES)}") from None
