"""The pacer, driven as a send path drives it: pushes at given times, a pop at each wakeup."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto.cc.pacer import Pacer, Priority
from hubbub.proto.cc.probe import ProbeCluster

Item = tuple[str, int]  # (kind, number)
Sent = list[tuple[float, Item, int | None]]  # (when, item, cluster)
SIZE = 1200


def _run(pacer: Pacer[Item], pushes: Iterable[tuple[float, Item, Priority]], until: float, start: float = 0.0) -> Sent:
    """Push each item at its time, pop at every push and every wakeup, until ``until``."""
    sent: Sent = []
    todo = sorted(pushes, key=lambda p: p[0])
    now, i = start, 0
    for _ in range(1_000_000):
        while i < len(todo) and todo[i][0] <= now:
            _, item, prio = todo[i]
            pacer.push(item, SIZE, prio, now)
            i += 1
        out = pacer.pop(now)
        sent.extend((now, item, pacer.pop_cluster) for item in out)
        wake = pacer.next_wakeup(now)
        assert wake is None or wake >= now
        if wake is not None and wake <= now and not out:
            wake = pacer.next_wakeup(now)  # a cluster may start at once; then time must move
            out = pacer.pop(now)
            sent.extend((now, item, pacer.pop_cluster) for item in out)
            wake = pacer.next_wakeup(now)
            assert wake is None or wake > now, "the pacer asks to be woken now with nothing to send"
        nxt = todo[i][0] if i < len(todo) else None
        candidates = [t for t in (wake, nxt) if t is not None]
        if not candidates or min(candidates) > until:
            return sent
        now = max(min(candidates), now)
    raise AssertionError("the pacer never settled")


def _frames(rate_bps: float, seconds: float, fps: int = 30, start: float = 0.0) -> list[tuple[float, Item, Priority]]:
    """Video frames at ``rate_bps``: every 1/fps, the frame's packets at once."""
    per_frame = max(1, round(rate_bps / fps / 8 / SIZE))
    out = []
    n = 0
    for f in range(int(seconds * fps)):
        for _ in range(per_frame):
            out.append((start + f / fps, ("video", n), Priority.VIDEO))
            n += 1
    return out


def _rate(sent: Sent, t0: float, t1: float) -> float:
    return sum(SIZE for t, _, _ in sent if t0 <= t < t1) * 8 / (t1 - t0)


def test_backlog_leaves_at_the_pacing_rate() -> None:
    pacer: Pacer[Item] = Pacer(2_000_000)
    sent = _run(pacer, _frames(5_000_000, 1.0), until=4.0)
    assert _rate(sent, 0.2, 1.2) == pytest.approx(2_000_000, rel=0.03)
    assert pacer.queued_packets == 0
    pacer.set_rates(4_000_000)
    more = _run(pacer, _frames(8_000_000, 1.0, start=5.0), until=8.0, start=5.0)
    assert _rate(more, 5.2, 6.2) == pytest.approx(4_000_000, rel=0.03)


def test_traffic_under_the_pacing_rate_is_not_held_back() -> None:
    pacer: Pacer[Item] = Pacer(2_500_000)
    sent = _run(pacer, _frames(1_000_000, 2.0), until=3.0)
    per_frame = 3  # 1 Mbit/s at 30 frames per second
    delays = [t - (n // per_frame) / 30 for t, (_, n), _ in sent]
    assert len(sent) == 2 * 30 * per_frame
    assert max(delays) < 0.015  # a frame of 3.6 kB leaves within its 11.5 ms at 2.5 Mbit/s


def test_a_keyframe_leaves_in_bounded_bursts() -> None:
    pacer: Pacer[Item] = Pacer(3_000_000, burst_s=0.01)
    keyframe = [(1.0, ("video", n), Priority.VIDEO) for n in range(100)]
    sent = _run(pacer, keyframe, until=2.0, start=0.0)
    assert len(sent) == 100
    burst = 3_000_000 * 0.01 / 8
    first = [s for s in sent if s[0] == 1.0]
    assert len(first) * SIZE <= burst + SIZE
    times = [t for t, _, _ in sent]
    for t in times:  # any 20 ms window: at most the burst, the rate's share and a packet
        window = sum(SIZE for u in times if t <= u < t + 0.02)
        assert window <= burst + 3_000_000 * 0.02 / 8 + SIZE
    assert times[-1] - times[0] == pytest.approx(100 * SIZE * 8 / 3_000_000, abs=0.015)


def test_audio_first_then_retransmissions_then_video_then_padding() -> None:
    pacer: Pacer[Item] = Pacer(1_000_000)
    pushes = [(0.0, ("video", n), Priority.VIDEO) for n in range(20)]  # a backlog
    pushes += [(0.0001, ("padding", 0), Priority.PADDING)]
    pushes += [(0.0001, ("rtx", 0), Priority.RETRANSMISSION), (0.0001, ("rtx", 1), Priority.RETRANSMISSION)]
    pushes += [(0.0002, ("audio", 0), Priority.AUDIO), (0.05, ("audio", 1), Priority.AUDIO)]
    sent = _run(pacer, pushes, until=1.0)
    kinds = [kind for _, (kind, _), _ in sent]
    first_video = [k for k in kinds if k == "video"][:2]
    assert first_video == ["video", "video"]  # the first burst left before anything else came
    later = [k for k in kinds[2:] if k != "audio"]
    assert later[:2] == ["rtx", "rtx"]
    assert later[-1] == "padding"
    audio = {n: t for t, (kind, n), _ in sent if kind == "audio"}
    assert audio == {0: 0.0002, 1: 0.05}  # never behind the backlog


def test_audio_is_never_delayed_by_a_video_backlog() -> None:
    pacer: Pacer[Item] = Pacer(500_000, queue_time_limit_s=10.0)
    pushes = [(0.0, ("video", n), Priority.VIDEO) for n in range(200)]
    pushes += [(0.01 + k * 0.02, ("audio", k), Priority.AUDIO) for k in range(50)]
    sent = _run(pacer, pushes, until=5.0)
    for t, (kind, k), _ in sent:
        if kind == "audio":
            assert t == pytest.approx(0.01 + k * 0.02)
    # the audio's bytes count: the video takes longer than alone
    last_video = max(t for t, (kind, _), _ in sent if kind == "video")
    assert last_video > 200 * SIZE * 8 / 500_000


def test_a_queue_past_its_time_limit_drains_faster() -> None:
    pacer: Pacer[Item] = Pacer(1_000_000, queue_time_limit_s=1.0)
    pushes = [(0.0, ("video", n), Priority.VIDEO) for n in range(300)]  # 2.9 s at the pacing rate
    sent = _run(pacer, pushes, until=10.0)
    assert len(sent) == 300
    assert sent[-1][0] < 1.05
    assert pacer.queued_packets == 0 and pacer.queue_delay(2.0) == 0.0


def test_queue_delay_and_counters() -> None:
    pacer: Pacer[Item] = Pacer(1_000_000)
    for n in range(50):
        pacer.push(("video", n), SIZE, Priority.VIDEO, 0.0)
    pacer.pop(0.0)
    assert pacer.queue_delay(0.3) == pytest.approx(0.3)
    assert pacer.queued_packets + pacer.sent_packets == 50
    assert pacer.queued_bytes == pacer.queued_packets * SIZE
    assert pacer.expected_queue_s() == pytest.approx(pacer.queued_bytes * 8 / 1_000_000)


def _padding_factory(made: list[int]) -> Callable[[int], tuple[Item, int] | None]:
    def make(size: int) -> tuple[Item, int] | None:
        made.append(size)
        return (("pad", len(made)), min(max(size, 200), SIZE))

    return make


def test_padding_only_when_asked_and_nothing_waits() -> None:
    made: list[int] = []
    pacer: Pacer[Item] = Pacer(2_500_000, padding=_padding_factory(made))
    assert _run(pacer, [], until=1.0) == []
    assert pacer.next_wakeup(1.0) is None
    pacer.set_rates(2_500_000, padding_bps=800_000)
    pushes = [(1.5 + n * 0.1, ("video", n), Priority.VIDEO) for n in range(5)]
    sent = _run(pacer, pushes, until=3.0, start=1.0)
    pads = sum(1 for _, (k, _), _ in sent if k == "pad")
    assert pads > 0
    padded = pacer.padding_bytes + 5 * SIZE
    assert padded * 8 / 2.0 == pytest.approx(800_000, rel=0.05)  # media and padding fill the rate
    pacer.set_rates(3_000_000)  # the padding rate stays
    assert pacer.padding_bps == 800_000
    pacer.set_rates(2_500_000, padding_bps=0)
    before = pacer.padding_packets
    _run(pacer, [], until=4.0, start=3.0)
    assert pacer.padding_packets == before


def test_a_probe_cluster_leaves_at_its_rate_and_is_tagged() -> None:
    pacer: Pacer[Item] = Pacer(1_000_000)
    cluster = ProbeCluster(7, 4_000_000, 5, 7500)
    pacer.probe(cluster)
    pushes = [(0.0, ("video", n), Priority.VIDEO) for n in range(40)]
    sent = _run(pacer, pushes, until=2.0)
    probe = [(t, item) for t, item, c in sent if c == 7]
    assert len(probe) >= 7  # 7500 bytes of 1200-byte packets
    assert all(c is None for _, _, c in sent[len(probe) :])
    span = probe[-1][0] - probe[0][0]
    assert (len(probe) - 1) * SIZE * 8 / span == pytest.approx(4_000_000, rel=0.15)
    assert pacer.probes_done == 1 and pacer.probe_packets == len(probe)


def test_a_probe_without_media_sends_padding_or_gives_up() -> None:
    made: list[int] = []
    pacer: Pacer[Item] = Pacer(1_000_000, padding=_padding_factory(made))
    pacer.probe(ProbeCluster(3, 2_000_000, 5, 3750))
    sent = _run(pacer, [], until=1.0)
    assert len(sent) >= 5 and all(c == 3 and item[0] == "pad" for _, item, c in sent)
    assert pacer.padding_bytes >= 3750 and pacer.probes_done == 1
    bare: Pacer[Item] = Pacer(1_000_000)
    bare.probe(ProbeCluster(4, 2_000_000, 5, 3750))
    assert _run(bare, [], until=1.0) == []
    assert bare.probes_aborted == 1 and bare.next_wakeup(1.0) is None


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(0)
    with pytest.raises(ValueError):
        Pacer(1_000_000, burst_s=0)


_ops = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["push", "admit"]), st.sampled_from(list(Priority)), st.integers(1, 1500)),
        st.tuples(st.just("pop"), st.floats(0.0, 0.05), st.just(0)),
        st.tuples(st.just("rate"), st.floats(50_000, 20_000_000), st.just(0)),
    ),
    max_size=120,
)


@settings(deadline=None, max_examples=150)
@given(ops=_ops)
def test_the_queue_keeps_its_rules_under_any_sequence(ops: list[tuple[str, object, int]]) -> None:
    """Counts add up, each priority leaves in order, audio leaves at the first pop, a pop of paced
    packets never exceeds a burst and a packet, and a waiting queue always has a wakeup."""
    pacer: Pacer[Item] = Pacer(1_000_000)
    now = 0.0
    pushed = 0
    waiting: dict[Priority, list[Item]] = {p: [] for p in Priority}
    sizes: dict[Item, int] = {}
    for op, arg, size in ops:
        if op == "admit":
            assert isinstance(arg, Priority)
            empty = pacer.queued_packets == 0
            if pacer.admit(size, arg, now):
                assert empty  # never ahead of what waits
                continue
            op = "push"
        if op == "push":
            assert isinstance(arg, Priority)
            item = (arg.name, pushed)
            pushed += 1
            sizes[item] = size
            waiting[arg].append(item)
            pacer.push(item, size, arg, now)
        elif op == "rate":
            assert isinstance(arg, float)
            pacer.set_rates(arg)
        else:
            assert isinstance(arg, float)
            now += arg
            audio_before = list(waiting[Priority.AUDIO])
            out = pacer.pop(now)
            assert out[: len(audio_before)] == audio_before
            paced = out[len(audio_before) :]
            assert sum(sizes[i] for i in paced) <= max(pacer.pacing_bps * pacer.burst_s / 8, 1500) + 1500
            for item in out:
                prio = Priority[item[0]]
                assert waiting[prio][0] == item  # first in, first out within a priority
                waiting[prio].pop(0)
            wake = pacer.next_wakeup(now)
            assert (wake is None) == (pacer.queued_packets == 0)
            assert wake is None or wake >= now
        assert pacer.queued_packets == sum(len(v) for v in waiting.values())
        assert pacer.queued_bytes == sum(sizes[i] for v in waiting.values() for i in v)


def test_admit_lets_packets_through_only_when_a_push_and_pop_would() -> None:
    pacer: Pacer[Item] = Pacer(1_000_000, burst_s=0.01)  # a burst of 1500 bytes, at least
    assert pacer.admit(SIZE, Priority.VIDEO, 0.0)
    assert pacer.admit(SIZE, Priority.VIDEO, 0.0)  # within the burst and a packet
    assert not pacer.admit(SIZE, Priority.VIDEO, 0.0)
    assert pacer.admit(SIZE, Priority.AUDIO, 0.0)  # audio is never held
    assert pacer.admit(SIZE, Priority.VIDEO, 0.05)  # the budget came back
    pacer.push(("video", 1), SIZE, Priority.VIDEO, 0.05)
    assert not pacer.admit(SIZE, Priority.VIDEO, 1.0)  # something waits: queue behind it
    assert pacer.pop(1.0) == [("video", 1)]
    pacer.probe(ProbeCluster(1, 2_000_000, 5, 3000))
    assert not pacer.admit(SIZE, Priority.VIDEO, 2.0)  # a probe runs through the queue
    assert pacer.sent_packets == 5 and pacer.queued_packets == 0
