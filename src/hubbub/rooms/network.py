"""Network quality per participant: an uplink and a downlink score on the 0-6 scale, every 2 s.

Theory of operation
===================
Every :data:`QUALITY_INTERVAL` seconds a room's :class:`RoomNetworkQuality` reads what the SFU
measured about each participant, turns each direction into a :class:`LinkSample` and scores it
with :func:`score_link`; every participant with a media connection up then gets a
``network_quality`` frame with its own scores and the others' (in a room of more than
:data:`ROSTER_LIMIT` participants: its own and those of the participants who publish).
Sans-I/O: ``now`` is the router's clock.

**Uplink** (what a participant sends the server), from its published, unmuted up-tracks (each
simulcast layer an RTP source of its own):

* loss: RFC 3550 A.3 expected minus received packets over the last :data:`WINDOW` seconds, all
  its sources together; retransmissions are left out (the loss the network caused, before repair);
* jitter: the largest RFC 3550 A.8 interarrival jitter of its sources;
* round trip: the server measures none on the publisher connection, so the participant's downlink
  round trip stands in (the same client, the same network);
* down: none of its tracks has had a packet or a sender report for :data:`UPLINK_SILENCE` seconds.

**Downlink** (what the server sends it), from the subscriber's receiver reports about each of its
down-tracks (RFC 3550 §6.4.1): the cumulative number lost over the window against the packets
sent meanwhile (the last report's fraction lost before two reports), jitter, and the round trip
from LSR/DLSR. The loss and jitter that the up-track already had on its way in are taken off (the
reports count the gaps of the publisher's losses as well as the subscriber's own); tracks weigh by
the packets sent to them. Down:
packets went out and no report came for :data:`DOWNLINK_SILENCE` seconds (libwebrtc reports
about audio every 5 s, +-50%).

**Estimate against need**: a :class:`Budget` per direction (a bandwidth estimate of the link and
the bit rate of what it must carry) caps the score when the estimate falls short. Optional:
:class:`Member` carries None where no estimator runs.

Scoring: each measurement gives a level, the worst one counts.

=============  ==========  ==========  ===========  ===================
score          loss        round trip  jitter       estimate / need
=============  ==========  ==========  ===========  ===================
1 excellent    < 1 %       < 100 ms    < 30 ms      >= 85 %
2 good         < 3 %       < 200 ms    < 50 ms      >= 50 %
3 poor         < 8 %       < 400 ms    < 100 ms     >= 20 %
4 bad          < 15 %      < 800 ms    < 200 ms     < 20 %
5 very bad     worse       worse       worse
6 down         no media (uplink) or no reports (downlink) for several seconds
0 unknown      nothing measured yet in that direction
=============  ==========  ==========  ===========  ===================
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from hubbub.rooms.media import RoomMedia
from hubbub.rooms.model import Participant, ParticipantState, Room
from hubbub.schema import signaling as sig
from hubbub.sfu.stats import ReceiveStats
from hubbub.sfu.track import DownTrack, UpTrack
from hubbub.transport import PeerState

__all__ = [
    "QUALITY_INTERVAL",
    "Budget",
    "LinkSample",
    "Member",
    "NetworkMonitor",
    "RoomNetworkQuality",
    "members",
    "score_link",
]

Quality = sig.Quality

QUALITY_INTERVAL = 2.0  # seconds between network_quality frames
WINDOW = 5.0  # seconds of uplink packet counts behind a loss
UPLINK_SILENCE = 5.0  # no packet nor sender report on any unmuted track: down
DOWNLINK_SILENCE = 9.0  # packets sent and no receiver report: down
REPORT_STALE = 10.0  # a receiver report older than this says nothing about now
MIN_PACKETS = 10  # fewer packets expected in the window: no loss figure
ROSTER_LIMIT = 50  # larger rooms: each participant gets its own scores and the publishers'

# Upper bounds (exclusive) of levels 1..4; at or above the last: 5, very bad.
LOSS_PCT = (1.0, 3.0, 8.0, 15.0)
RTT_MS = (100.0, 200.0, 400.0, 800.0)
JITTER_MS = (30.0, 50.0, 100.0, 200.0)
# Lower bounds of estimate / need for levels 1..3; below the last: 4, bad.
BUDGET_RATIO = (0.85, 0.5, 0.2)


@dataclass(frozen=True, slots=True)
class Budget:
    """A bandwidth estimate of one direction against what it must carry, in bit/s."""

    estimate_bps: float
    need_bps: float


@dataclass(frozen=True, slots=True)
class LinkSample:
    """What was measured about one direction of a participant's network; None: not measured."""

    loss: float | None = None  # fraction of packets lost, 0..1
    rtt: float | None = None  # seconds
    jitter: float | None = None  # seconds
    budget: Budget | None = None
    down: bool = False


def _level(value: float, bounds: Sequence[float]) -> int:
    for level, bound in enumerate(bounds, start=1):
        if value < bound:
            return level
    return len(bounds) + 1


def _budget_level(budget: Budget) -> int:
    if budget.need_bps <= 0:
        return Quality.excellent
    ratio = budget.estimate_bps / budget.need_bps
    for level, bound in enumerate(BUDGET_RATIO, start=1):
        if ratio >= bound:
            return level
    return len(BUDGET_RATIO) + 1


def score_link(sample: LinkSample) -> Quality:
    """The score of one direction: the worst level among its measurements (module docstring)."""
    if sample.down:
        return Quality.down
    levels = []
    if sample.loss is not None:
        levels.append(_level(sample.loss * 100.0, LOSS_PCT))
    if sample.rtt is not None:
        levels.append(_level(sample.rtt * 1000.0, RTT_MS))
    if sample.jitter is not None:
        levels.append(_level(sample.jitter * 1000.0, JITTER_MS))
    if sample.budget is not None:
        levels.append(_budget_level(sample.budget))
    return Quality(max(levels)) if levels else Quality.unknown


@dataclass(frozen=True, slots=True)
class Member:
    """One participant as the monitor reads it."""

    sid: str
    up_tracks: Sequence[UpTrack]  # its published tracks that are not muted
    down_tracks: Sequence[DownTrack]  # its subscriptions
    uplink_budget: Budget | None = None  # a receive-side estimate of what it sends (none runs yet)
    downlink_budget: Budget | None = None  # the send-side estimate towards it vs what it subscribes to


@dataclass(slots=True, eq=False)
class _UpHistory:
    track: UpTrack
    alive_at: float  # the last packet or sender report (first sight counts as one)
    packets: int
    sources: tuple[ReceiveStats, ...] = ()  # each layer's statistics at the last sample
    counts: deque[tuple[float, int, int]] = field(default_factory=deque)  # (now, expected, received)

    def update(self, now: float) -> None:
        up = self.track
        if up.packets != self.packets:
            self.packets = up.packets
            self.alive_at = now
        if up.sr_time is not None and up.sr_time > self.alive_at:
            self.alive_at = up.sr_time
        sources = tuple(layer.stats for layer in up.layers if layer.stats.started)
        if sources != self.sources:  # a layer started, or restarted with a new SSRC: count anew
            self.sources = sources
            self.counts.clear()
        if sources:
            counts = self.counts
            counts.append((now, sum(s.expected for s in sources), sum(s.received for s in sources)))
            while len(counts) > 2 and counts[1][0] <= now - WINDOW:
                counts.popleft()

    def lost_expected(self) -> tuple[int, int]:
        """Packets lost and expected over the window (0, 0 before two counts)."""
        if len(self.counts) < 2:
            return 0, 0
        (_, e0, r0), (_, e1, r1) = self.counts[0], self.counts[-1]
        expected = e1 - e0
        return (max(0, expected - (r1 - r0)), expected) if expected > 0 else (0, 0)

    def loss(self) -> float:
        lost, expected = self.lost_expected()
        return lost / expected if expected >= MIN_PACKETS else 0.0

    def jitter(self) -> float | None:
        """The largest interarrival jitter of its layers, seconds (None before any packet)."""
        return max((s.jitter_seconds for s in self.sources), default=None)


@dataclass(slots=True, eq=False)
class _DownHistory:
    track: DownTrack
    first_seen: float
    packets: int  # packets sent at the previous sample
    sent: int = 0  # packets sent since the previous sample
    # (report time, cumulative lost it reported, packets sent by the sample that saw it), in the window
    reports: deque[tuple[float, int, int]] = field(default_factory=deque)

    def update(self, now: float) -> None:
        dt = self.track
        sent = dt.packets_sent
        self.sent, self.packets = max(0, sent - self.packets), sent
        at = dt.report_time
        reports = self.reports
        if at is not None and (not reports or at > reports[-1][0]):
            reports.append((at, dt.packets_lost, sent))
            while len(reports) > 2 and reports[1][0] <= now - WINDOW:
                reports.popleft()

    def loss(self, upstream: float) -> tuple[float, int]:
        """The fraction of what was sent that the subscriber lost, less the ``upstream`` fraction the
        up-track had lost before (those gaps count as lost in its reports too), and the packets it
        stands for: over the window's reports (RFC 3550 §6.4.1 cumulative lost), else the last
        report's fraction lost."""
        if len(self.reports) >= 2:
            (_, lost0, sent0), (_, lost1, sent1) = self.reports[0], self.reports[-1]
            sent = sent1 - sent0
            if sent >= MIN_PACKETS:
                gaps = sent * upstream / (1.0 - upstream) if upstream < 1.0 else 0.0
                return min(1.0, max(0.0, (lost1 - lost0 - gaps) / sent)), sent
        return max(0.0, self.track.fraction_lost / 256.0 - upstream), max(1, self.sent)


class NetworkMonitor:
    """The counts one room's samples need between calls (keyed by track, pruned as tracks go)."""

    def __init__(self) -> None:
        self._up: dict[str, _UpHistory] = {}  # by track id
        self._down: dict[tuple[str, str], _DownHistory] = {}  # by (track id, subscriber sid)

    def measure(self, now: float, room_members: Iterable[Member]) -> list[sig.LinkQuality]:
        """Each member's scores and measurements now."""
        listed = list(room_members)
        ups: dict[str, _UpHistory] = {}
        downs: dict[tuple[str, str], _DownHistory] = {}
        for m in listed:
            for up in (*m.up_tracks, *(dt.up for dt in m.down_tracks)):
                if up.track_id not in ups:
                    ups[up.track_id] = self._up_history(up, now)
            for dt in m.down_tracks:
                downs[(dt.up.track_id, m.sid)] = self._down_history(dt, m.sid, now)
        self._up, self._down = ups, downs
        return [self._quality(m, now) for m in listed]

    def _up_history(self, up: UpTrack, now: float) -> _UpHistory:
        h = self._up.get(up.track_id)
        if h is None or h.track is not up:  # new, or replaced (its statistics restarted)
            h = _UpHistory(up, now, up.packets)
        h.update(now)
        return h

    def _down_history(self, dt: DownTrack, sid: str, now: float) -> _DownHistory:
        h = self._down.get((dt.up.track_id, sid))
        if h is None or h.track is not dt:
            h = _DownHistory(dt, now, dt.packets_sent)
        h.update(now)
        return h

    def _quality(self, m: Member, now: float) -> sig.LinkQuality:
        down_sample = self._downlink(m, now)
        up_sample = self._uplink(m, now, down_sample.rtt)
        return sig.LinkQuality(
            participant_sid=m.sid,
            uplink=score_link(up_sample),
            downlink=score_link(down_sample),
            rtt_ms=_ms(down_sample.rtt),
            uplink_loss_pct=_pct(up_sample.loss),
            downlink_loss_pct=_pct(down_sample.loss),
            uplink_jitter_ms=_ms(up_sample.jitter),
            downlink_jitter_ms=_ms(down_sample.jitter),
        )

    def _uplink(self, m: Member, now: float, rtt: float | None) -> LinkSample:
        histories = [self._up[up.track_id] for up in m.up_tracks]
        if not histories:
            return LinkSample(budget=m.uplink_budget)
        if all(now - h.alive_at >= UPLINK_SILENCE for h in histories):
            return LinkSample(down=True)
        lost = expected = 0
        for h in histories:
            lost_h, expected_h = h.lost_expected()
            lost, expected = lost + lost_h, expected + expected_h
        jitters = [j for h in histories if (j := h.jitter()) is not None]
        if not jitters:
            return LinkSample(budget=m.uplink_budget)
        return LinkSample(
            loss=lost / expected if expected >= MIN_PACKETS else None,
            rtt=rtt,
            jitter=max(jitters),
            budget=m.uplink_budget,
        )

    def _downlink(self, m: Member, now: float) -> LinkSample:
        histories = [self._down[(dt.up.track_id, m.sid)] for dt in m.down_tracks]
        reported = [h for h in histories if h.track.report_time is not None]
        newest = max((h.track.report_time or 0.0 for h in reported), default=None)
        quiet_since = newest if newest is not None else min((h.first_seen for h in histories), default=now)
        if any(h.sent for h in histories) and now - quiet_since >= DOWNLINK_SILENCE:
            return LinkSample(down=True)  # packets go out and nothing comes back
        fresh = [h for h in reported if now - (h.track.report_time or 0.0) < REPORT_STALE]
        if not fresh:
            return LinkSample(budget=m.downlink_budget)
        lost = weights = jitter = 0.0
        for h in fresh:
            dt = h.track
            up = self._up.get(dt.up.track_id)
            fraction, packets = h.loss(up.loss() if up is not None else 0.0)
            lost, weights = lost + fraction * packets, weights + packets
            up_jitter = (up.jitter() if up is not None else None) or 0.0
            jitter = max(jitter, dt.jitter / dt.up.clock_rate - up_jitter)
        loss = lost / weights
        rtts = [h.track.rtt for h in fresh if h.track.rtt is not None]
        return LinkSample(loss=loss, rtt=max(rtts) if rtts else None, jitter=jitter, budget=m.downlink_budget)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else round(fraction * 100.0, 2)


BudgetSource = Callable[[Participant], Budget | None]
"""A participant's downlink :class:`Budget` (its send-side estimate and the bit rate of what it
subscribes to), None where no estimate exists."""


def members(room: Room, media: RoomMedia, downlink_budget: BudgetSource | None = None) -> list[Member]:
    """The room's participants as the monitor reads them; ``downlink_budget`` gives each one's
    budget (by default the router's: the send-side estimate towards it against what it wants,
    where it negotiated transport-wide CC)."""
    router = media.router
    found = []
    for p in room.participants.values():
        ups = []
        for pub in p.publications.values():
            up = router.up_track(pub.sid) if pub.active and not pub.muted else None
            if up is not None:
                ups.append(up)
        downs = []
        for track_sid in p.subscriptions:
            dt = router.down_track(track_sid, p.sid)
            if dt is not None and dt.receiving:
                downs.append(dt)
        if downlink_budget is not None:
            budget = downlink_budget(p)
        else:
            found_budget = router.downlink_budget(p.sid)
            budget = Budget(*found_budget) if found_budget is not None else None
        found.append(Member(p.sid, ups, downs, downlink_budget=budget))
    return found


def _connected(media: RoomMedia, p: Participant) -> bool:
    """``p`` has a media connection up: before that, nothing about its network is known."""
    return any(peer.state is PeerState.CONNECTED for peer in media.participant(p).peers())


class RoomNetworkQuality:
    """One room's ``network_quality`` frames, due every :data:`QUALITY_INTERVAL` seconds."""

    def __init__(self, interval: float = QUALITY_INTERVAL, downlink_budget: BudgetSource | None = None) -> None:
        self.interval = interval
        self.downlink_budget = downlink_budget
        self.monitor = NetworkMonitor()
        self._next = float("-inf")

    def tick(self, room: Room, media: RoomMedia, now: float) -> list[tuple[Participant, sig.NetworkQuality]]:
        """The frame for each joined participant with a media connection when one is due, else nothing."""
        due = self._next
        if now < due:
            return []
        self._next = due + self.interval if now - due < self.interval else now + self.interval  # no drift
        listed = members(room, media, self.downlink_budget)
        qualities = self.monitor.measure(now, listed)
        joined = [p for p in room.participants.values() if p.state is ParticipantState.joined and _connected(media, p)]
        if len(room.participants) <= ROSTER_LIMIT:
            everyone = sig.NetworkQuality(participants=qualities)
            return [(p, everyone) for p in joined]
        by_sid = {q.participant_sid: q for q in qualities}
        publishing = [by_sid[m.sid] for m in listed if m.up_tracks]
        frames = []
        for p in joined:
            others = [q for q in publishing if q.participant_sid != p.sid]
            frames.append((p, sig.NetworkQuality(participants=[*others, by_sid[p.sid]])))
        return frames
