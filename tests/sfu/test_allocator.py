"""The bandwidth allocator: one subscriber's estimate shared among its down-tracks, with a manual
clock (priority, audio first, pause/resume and up-switch hysteresis, unknown rates, probing)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.sfu.allocator import (
    AUDIO_BPS,
    ELASTIC_MIN_BPS,
    NOMINAL_BPS,
    SINGLE_LAYER_BPS,
    Allocation,
    Allocator,
    Demand,
    Priority,
    assumed_rates,
)
from hubbub.sfu.layers import MAX_TEMPORAL, LayerInfo

L0 = (100_000, 150_000, 200_000)  # cumulative bit/s of temporal layers 0..2
L1 = (300_000, 450_000, 600_000)
L2 = (1_000_000, 1_500_000, 2_000_000)
RIDS = ("q", "h", "f", "x")


def layers(*rates: Sequence[int], active: Sequence[bool] = ()) -> tuple[LayerInfo, ...]:
    return tuple(LayerInfo(s, RIDS[s], active[s] if active else True, 0, 0, tuple(r)) for s, r in enumerate(rates))


def video(
    key: Hashable, *rates: Sequence[int], priority: Priority = Priority.NORMAL, cap: int = 2, **kw: Sequence[bool]
) -> Demand:
    return Demand(key, "video", priority, cap, layers(*(rates or (L0, L1, L2)), **kw))


def audio(key: Hashable, bitrate: float = 0.0, cap: int = 0) -> Demand:
    return Demand(key, "audio", Priority.NORMAL, cap, layers(()), bitrate)


def single(key: Hashable, bitrate: float = 0.0, priority: Priority = Priority.NORMAL) -> Demand:
    return Demand(key, "video", priority, 0, (LayerInfo(0, None, True, 0, 0, ()),), bitrate)


def layer_of(a: Allocation) -> tuple[int, int]:
    return a.spatial, a.temporal


PAUSED = Allocation(-1, -1, True, "bandwidth", 0.0)


# --- audio and priorities ------------------------------------------------------------------------


def test_audio_is_taken_off_first_and_never_paused() -> None:
    alloc = Allocator()
    out = alloc.allocate(AUDIO_BPS + 64_000 + L0[0], [video("v"), audio("a"), audio("b", 64_000)], 0.0)
    assert out["a"] == Allocation(0, MAX_TEMPORAL, False, "", AUDIO_BPS)
    assert out["b"].bps == 64_000
    assert layer_of(out["v"]) == (0, 0)  # exactly what was left
    out = alloc.allocate(0.0, [video("v"), audio("a")], 1.0)
    assert not out["a"].paused and out["a"].bps == AUDIO_BPS
    assert out["v"] == PAUSED


def test_priority_order_screen_then_speaker_then_normal() -> None:
    demands = [video("n"), video("sp", priority=Priority.SPEAKER), video("sc", priority=Priority.SCREEN)]
    out = Allocator().allocate(L0[0], demands, 0.0)
    assert [out[k].paused for k in ("sc", "sp", "n")] == [False, True, True]
    out = Allocator().allocate(2 * L0[0], demands, 0.0)
    assert [out[k].paused for k in ("sc", "sp", "n")] == [False, False, True]


def test_stable_order_within_a_priority() -> None:
    out = Allocator().allocate(L0[0], [video("b"), video("a")], 0.0)
    assert not out["b"].paused and out["a"].reason == "bandwidth"


def test_every_video_gets_its_lowest_step_before_any_climbs() -> None:
    demands = [video("s", priority=Priority.SCREEN), video("n")]
    out = Allocator().allocate(2 * L0[0] + 10_000, demands, 0.0)
    assert layer_of(out["s"]) == (0, 0) and layer_of(out["n"]) == (0, 0)


def test_second_pass_raises_one_step_at_a_time_in_priority_order() -> None:
    demands = [video("n"), video("s", priority=Priority.SPEAKER)]
    step = L0[1] - L0[0]
    out = Allocator().allocate(2 * L0[0] + step, demands, 0.0)
    assert layer_of(out["s"]) == (0, 1) and layer_of(out["n"]) == (0, 0)
    out = Allocator().allocate(2 * L0[0] + 3 * step, demands, 0.0)  # a round each, then the speaker again
    assert layer_of(out["s"]) == (0, MAX_TEMPORAL) and layer_of(out["n"]) == (0, 1)


def test_frame_rate_drops_before_resolution() -> None:
    alloc = Allocator()
    assert layer_of(alloc.allocate(L0[1], [video("v")], 0.0)["v"]) == (0, 1)
    assert layer_of(alloc.allocate(L1[0], [video("v")], 0.1)["v"]) == (0, MAX_TEMPORAL)  # no headroom yet
    # a layer is entered whole (its full frame rate) ...
    out = Allocator().allocate(L1[1] * 1.1, [video("v")], 0.0)
    assert out["v"] == Allocation(0, MAX_TEMPORAL, False, "", L0[2])
    # ... and, once there, the frame rate halves before the resolution drops, but no further
    alloc = Allocator()
    assert layer_of(alloc.allocate(L1[2] * 1.1, [video("v")], 0.0)["v"]) == (1, MAX_TEMPORAL)
    assert alloc.allocate(L1[1], [video("v")], 1.0)["v"] == Allocation(1, 1, False, "", L1[1])
    assert layer_of(alloc.allocate(L1[1] - 1, [video("v")], 2.0)["v"]) == (0, MAX_TEMPORAL)


def test_nothing_above_cap() -> None:
    out = Allocator().allocate(100e6, [video("v", cap=1), video("w", cap=7)], 0.0)
    assert layer_of(out["v"]) == (1, MAX_TEMPORAL) and out["v"].bps == L1[2]
    assert layer_of(out["w"]) == (2, MAX_TEMPORAL)


# --- pause and resume ----------------------------------------------------------------------------


def test_pause_is_immediate_and_resume_needs_margin_and_hold() -> None:
    alloc = Allocator(resume_margin=1.3, resume_hold_s=2.0)
    assert not alloc.allocate(L0[2], [video("v")], 0.0)["v"].paused
    assert alloc.allocate(L0[0] - 1, [video("v")], 1.0)["v"] == PAUSED
    assert alloc.allocate(L0[0], [video("v")], 5.0)["v"].paused  # fits, but not with the margin
    assert alloc.allocate(L0[0] * 1.3, [video("v")], 5.5)["v"] == Allocation(0, 0, False, "", L0[0])


def test_a_recent_pause_is_held_even_with_budget() -> None:
    alloc = Allocator()
    alloc.allocate(L0[0] - 1, [video("v")], 0.0)  # a new video that does not fit: paused
    assert alloc.allocate(10e6, [video("v")], 1.9)["v"].paused
    out = alloc.allocate(10e6, [video("v")], 2.0)["v"]
    assert not out.paused and layer_of(out) == (0, MAX_TEMPORAL)  # resumed low; climbing is held


def test_pause_margin_above_one_pauses_early() -> None:
    alloc = Allocator(pause_margin=1.2)
    alloc.allocate(10e6, [video("v")], 0.0)
    assert alloc.allocate(L0[0] * 1.1, [video("v")], 1.0)["v"].paused


def test_not_wanted_costs_nothing() -> None:
    demands = [video("off", cap=-1, priority=Priority.SCREEN), audio("mute", cap=-1), video("v")]
    out = Allocator().allocate(L0[0], demands, 0.0)
    for key in ("off", "mute"):
        assert out[key] == Allocation(-1, -1, True, "not_wanted", 0.0)
    assert layer_of(out["v"]) == (0, 0)


def test_a_demand_that_goes_away_is_forgotten() -> None:
    alloc = Allocator()
    alloc.allocate(0.0, [video("v")], 0.0)
    alloc.allocate(0.0, [], 0.5)
    assert not alloc.allocate(10e6, [video("v")], 1.0)["v"].paused  # new again: no resume hold


# --- up and down ---------------------------------------------------------------------------------


def test_up_switch_waits_for_a_continuous_hold_and_down_is_immediate() -> None:
    alloc = Allocator(up_hold_s=1.0)
    big = 10e6
    assert alloc.allocate(L0[2], [video("v")], 0.0)["v"].spatial == 0
    assert alloc.allocate(big, [video("v")], 0.25)["v"].spatial == 0
    assert alloc.allocate(L0[2], [video("v")], 0.5)["v"].spatial == 0  # the budget dipped: the hold starts over
    assert alloc.allocate(big, [video("v")], 1.0)["v"].spatial == 0
    assert alloc.allocate(big, [video("v")], 1.5)["v"].spatial == 0
    assert layer_of(alloc.allocate(big, [video("v")], 2.0)["v"]) == (2, MAX_TEMPORAL)
    assert layer_of(alloc.allocate(L0[1], [video("v")], 2.25)["v"]) == (0, 1)  # down at once


def test_up_switch_needs_headroom_staying_does_not() -> None:
    alloc = Allocator(up_headroom=1.1, up_hold_s=1.0)
    alloc.allocate(L0[2], [video("v")], 0.0)
    for now in (0.5, 2.0, 3.0):
        assert alloc.allocate(L1[2] * 1.09, [video("v")], now)["v"].spatial == 0
    alloc.allocate(L1[2] * 1.1, [video("v")], 4.0)
    assert layer_of(alloc.allocate(L1[2] * 1.1, [video("v")], 5.0)["v"]) == (1, MAX_TEMPORAL)
    assert layer_of(alloc.allocate(L1[2], [video("v")], 6.0)["v"]) == (1, MAX_TEMPORAL)  # kept without headroom


def test_a_new_video_goes_straight_to_what_fits() -> None:
    out = Allocator().allocate(L2[2] * 1.1, [video("v")], 0.0)
    assert layer_of(out["v"]) == (2, MAX_TEMPORAL)
    out = Allocator().allocate(L2[0] * 1.05, [video("v")], 0.0)  # the top layer without headroom: not entered
    assert layer_of(out["v"]) == (1, MAX_TEMPORAL)


# --- no estimate ---------------------------------------------------------------------------------


def test_infinite_budget_gives_every_video_its_cap() -> None:
    alloc = Allocator()
    alloc.allocate(0.0, [video("v")], 0.0)  # paused a moment ago: no hold applies without an estimate
    demands = [video("v"), video("w", (), (), cap=1), single("s"), audio("a")]
    out = alloc.allocate(math.inf, demands, 0.1)
    assert out["v"] == Allocation(2, MAX_TEMPORAL, False, "", L2[2])
    assert layer_of(out["w"]) == (1, MAX_TEMPORAL) and not out["s"].paused
    assert alloc.probe_bps is None
    assert alloc.allocate(L0[2], demands[:1], 0.2)["v"].spatial == 0  # and down at once after


# --- probing -------------------------------------------------------------------------------------


def test_probe_is_the_next_step_of_the_most_important_video_below_cap() -> None:
    alloc = Allocator(up_headroom=1.1)
    alloc.allocate(L0[2] + AUDIO_BPS, [video("v"), audio("a")], 0.0)  # at the top of layer 0
    assert alloc.probe_bps == pytest.approx(AUDIO_BPS + L1[2] * 1.1)  # entering layer 1 whole, with headroom
    alloc = Allocator(up_headroom=1.1)
    demands = [video("n"), video("sc", priority=Priority.SCREEN), audio("a")]
    out = alloc.allocate(2 * L0[1] + AUDIO_BPS, demands, 0.0)
    assert layer_of(out["sc"]) == layer_of(out["n"]) == (0, 1)
    assert alloc.probe_bps == pytest.approx(2 * L0[1] + AUDIO_BPS + L0[2] - L0[1])  # the screen's next step
    alloc.allocate(L0[0] + AUDIO_BPS, demands, 1.0)  # the normal video paused
    alloc.allocate(100e6, [video("sc", priority=Priority.SCREEN, cap=0), *demands[::2]], 1.5)
    # screen at its cap, the normal video still paused (hold): the probe is what resuming it needs
    out = alloc.allocate(L0[2] + AUDIO_BPS, [video("sc", priority=Priority.SCREEN, cap=0), *demands[::2]], 1.6)
    assert out["n"].paused
    assert alloc.probe_bps == pytest.approx(L0[2] + AUDIO_BPS + L0[0] * 1.3)


def test_no_probe_when_everything_is_at_its_cap() -> None:
    alloc = Allocator()
    alloc.allocate(L1[2] * 2, [video("v", cap=1), audio("a")], 0.0)
    assert alloc.probe_bps is None
    alloc.allocate(L1[2] * 2, [video("v", cap=2), audio("a")], 0.1)
    assert alloc.probe_bps is not None


# --- unknown rates and inactive layers -----------------------------------------------------------


def test_assumed_rates() -> None:
    assert assumed_rates(layers((), (), ())) == list(NOMINAL_BPS)
    assert assumed_rates(layers((), ())) == list(NOMINAL_BPS[:2])
    assert assumed_rates(layers((), (), (), ()))[3] == pytest.approx(NOMINAL_BPS[2] * 3.5)
    assert assumed_rates(layers((), (), (700_000,))) == pytest.approx([700_000 / 3.5**2, 200_000, 700_000])
    assert assumed_rates(layers((50_000,), (), ())) == pytest.approx([50_000, 175_000, 612_500])
    assert assumed_rates(layers((0, 0), (300_000,))) == pytest.approx([300_000 / 3.5, 300_000])


def test_unmeasured_layers_are_allocated_at_assumed_rates() -> None:
    out = Allocator().allocate(NOMINAL_BPS[1] * 1.1, [video("v", (), (), ())], 0.0)
    assert out["v"] == Allocation(1, MAX_TEMPORAL, False, "", NOMINAL_BPS[1])
    out = Allocator().allocate(NOMINAL_BPS[0] - 1, [video("v", (), (), ())], 0.0)
    assert out["v"].paused


def test_single_layer_video_uses_its_bitrate_or_a_default() -> None:
    out = Allocator().allocate(1e6, [single("m", 800_000), single("u")], 0.0)
    assert out["m"] == Allocation(0, MAX_TEMPORAL, False, "", 800_000)
    assert out["u"].paused  # 500 kbit/s assumed, 200 left
    out = Allocator().allocate(SINGLE_LAYER_BPS, [single("u")], 0.0)
    assert out["u"] == Allocation(0, MAX_TEMPORAL, False, "", SINGLE_LAYER_BPS)


def test_the_lowest_active_layer_is_preferred_an_inactive_one_below_is_the_fallback() -> None:
    v = video("v", (), L1, L2, active=(False, True, True))
    assert layer_of(Allocator().allocate(L1[0], [v], 0.0)["v"]) == (1, 0)
    out = Allocator().allocate(L1[0] - 1, [v], 0.0)  # layer 1 does not fit: ask for the stopped layer 0
    assert out["v"] == Allocation(0, MAX_TEMPORAL, False, "", L1[2] / 3.5)
    top = video("v", L0, (), (), active=(True, False, False))  # a stopped layer above is allocatable
    assert layer_of(Allocator().allocate(10e6, [top], 0.0)["v"]) == (2, MAX_TEMPORAL)


def test_deterministic_given_now() -> None:
    script = [(L0[2], 0.0), (10e6, 0.5), (L0[0] - 1, 1.0), (10e6, 2.0), (10e6, 3.5), (5e5, 4.0)]
    demands = [video("a", priority=Priority.SPEAKER), video("b"), single("c", 300_000), audio("d")]
    runs = []
    for _ in range(2):
        alloc = Allocator()
        runs.append([(alloc.allocate(b, demands, t), alloc.probe_bps) for b, t in script])
    assert runs[0] == runs[1]


# --- properties ----------------------------------------------------------------------------------

rates_st = st.one_of(
    st.just(()),
    st.lists(st.integers(0, 3_000_000), min_size=1, max_size=3).map(lambda r: tuple(sorted(r))),
)
layer_st = st.tuples(rates_st, st.booleans())


def test_an_elastic_video_is_kept_at_its_floor_and_shares_what_the_others_leave() -> None:
    elastic = Demand("e", "video", Priority.NORMAL, 0, (LayerInfo(0, None, True, 0, 0, ()),), 1_500_000, True)
    alloc = Allocator()
    # measured at 1.5 Mbit/s, it is not paused on 300 kbit/s: its publisher is told to send what is left
    out = alloc.allocate(300_000, [audio("a", 40_000), elastic], 0.0)
    assert not out["e"].paused and out["e"].bps == 260_000
    assert alloc.probe_bps is None  # its publisher's own rate proves the path
    # the simulcast video climbs first; two elastic ones split the rest
    other = Demand("f", "video", Priority.NORMAL, 0, elastic.layers, 0, True)
    out = alloc.allocate(1_000_000, [video("v", cap=1), elastic, other], 1.0)
    assert layer_of(out["v"]) == (1, MAX_TEMPORAL)
    assert out["e"].bps == out["f"].bps == (1_000_000 - 600_000) / 2
    # below its floor it is held at the floor, not paused
    out = alloc.allocate(ELASTIC_MIN_BPS / 2, [elastic], 2.0)
    assert out["e"] == Allocation(0, MAX_TEMPORAL, False, "", ELASTIC_MIN_BPS)
    # with no estimate it is at its cap, and nothing is probed for it
    out = alloc.allocate(math.inf, [elastic], 6.0)
    assert not out["e"].paused and alloc.probe_bps is None


demand_st = st.tuples(
    st.sampled_from(["audio", "video", "video"]),
    st.sampled_from(list(Priority)),
    st.integers(-1, 3),
    st.lists(layer_st, min_size=1, max_size=3),
    st.sampled_from([0.0, 30_000.0, 700_000.0]),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(demand_st, min_size=1, max_size=6),
    st.lists(st.tuples(st.floats(0, 8e6), st.floats(0.0, 1.5)), min_size=1, max_size=8),
)
def test_allocations_fit_the_budget_and_the_caps(
    specs: list[tuple[str, Priority, int, list[tuple[tuple[int, ...], bool]], float, bool]],
    steps: list[tuple[float, float]],
) -> None:
    demands = [
        Demand(
            i,
            kind,
            prio,
            cap,
            tuple(LayerInfo(s, RIDS[s], act, 0, 0, r) for s, (r, act) in enumerate(ls)),
            bitrate,
            elastic and kind == "video" and len(ls) == 1,
        )
        for i, (kind, prio, cap, ls, bitrate, elastic) in enumerate(specs)
    ]
    alloc = Allocator()
    now = 0.0
    for budget, dt in steps:
        now += dt
        out = alloc.allocate(budget, demands, now)
        assert set(out) == {d.key for d in demands}
        audio_bps = sum(out[d.key].bps for d in demands if d.kind == "audio")
        video_bps = sum(out[d.key].bps for d in demands if d.kind == "video")
        floors = sum(ELASTIC_MIN_BPS for d in demands if d.elastic and d.cap >= 0)  # never paused
        assert video_bps <= (max(budget - audio_bps, 0.0) + floors) * (1 + 1e-9) + 1e-6
        for d in demands:
            a = out[d.key]
            if d.cap < 0:
                assert a.paused and a.reason == "not_wanted"
            elif d.kind == "audio":
                assert not a.paused
            elif d.elastic:
                assert not a.paused and a.bps >= ELASTIC_MIN_BPS
            if not a.paused and d.kind == "video":
                assert 0 <= a.spatial <= min(d.cap, len(d.layers) - 1)
                assert 0 <= a.temporal <= MAX_TEMPORAL
        if alloc.probe_bps is not None:
            assert alloc.probe_bps >= sum(a.bps for a in out.values())
