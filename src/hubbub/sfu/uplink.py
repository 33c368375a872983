"""The rate limit of one publisher connection: what its slowest subscribers can take, sent as REMB.

Theory of operation
-------------------
A simulcast video adapts to each subscriber by layer (:mod:`hubbub.sfu.allocator`); a video
with one layer cannot: forwarded whole to a subscriber whose path carries less, it queues and
is lost, and pausing it freezes the picture. Its publisher's encoder can follow instead, as it
does peer to peer. Such a track is *elastic* (``UpTrack.elastic``: one layer, video, and a
publisher connection that takes rate feedback from the SFU): each subscriber's allocation
gives it a share of that subscriber's estimate (``Downlink.limits``), and
:func:`publisher_limit` turns the shares into one rate for the publisher connection:

- per elastic track, the least share among its subscribers, but not below :data:`KEEP` of the
  largest: a subscriber whose share is lower would hold everybody's picture down to its own
  path, so it is *outvoted* (``Downlink.outvoted``): for it the track is an ordinary
  single-layer video at the rate its publisher sends, paused while that does not fit and
  elastic again once it does. A subscriber without an estimate (no transport-wide CC, or not
  measured yet) counts as one whose path takes anything: every measured one is then outvoted
  and the track is not limited; once nobody is left to outvote them, they are elastic again;
- the connection's limit is the sum of its elastic tracks' limits, :data:`USED` of each (the
  rest for packet headers and retransmissions), plus what its audio sends; None (no limit)
  when an elastic track has no limited subscriber. A REMB limits the whole connection, so a
  publisher that also sends a simulcast video has no elastic tracks at all
  (:meth:`PublisherLimits.classify`).

:class:`RembLimit` sends the limit as REMB (draft-alvestrand-rmcat-remb-03). libwebrtc caps
its send-side estimate with the latest REMB (``receiver_limit``) even when it runs on
transport-wide feedback, so the same message serves Chromium and aiortc. A fall of 3% or more
is sent at once, a rise of 5% or more at most every :data:`RISE_INTERVAL`, anything else every
:data:`REMB_INTERVAL`; once the limit goes, :data:`LIFTED_BPS` is sent :data:`LIFTED_REPEAT`
times (a REMB may be lost) and then nothing. A publisher whose REMB comes from the SFU's own
receive-side estimate (:class:`hubbub.proto.cc.remote.RemoteEstimator`) gets the lower of the
two in that estimator's messages instead (``RemoteEstimator.limit_bps``). Sans-I/O: time comes
in as ``now``; rates are bit/s.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from hubbub.proto.cc.publisher import PublisherFeedback
from hubbub.proto.cc.remote import RemoteEstimator
from hubbub.proto.rtcp_feedback import Remb
from hubbub.sfu.types import PacketSink

if TYPE_CHECKING:
    from hubbub.sfu.track import UpTrack

__all__ = ["KEEP", "LIFTED_BPS", "REMB_INTERVAL", "RISE_INTERVAL", "PublisherLimits", "RembLimit", "publisher_limit"]

REMB_INTERVAL = 1.0  # seconds between REMBs while the limit holds
RISE_INTERVAL = 0.5  # a rising limit is sent at most this often
DROP = 0.97  # a limit under this fraction of the last one sent goes at once
RISE = 1.05  # one over this multiple goes at the next RISE_INTERVAL
LIFTED_BPS = 1 << 27  # "no limit" (134 Mbit/s), a rate a REMB carries exactly
LIFTED_REPEAT = 3
USED = 0.9  # of an elastic track's share, what its publisher is told to send
KEEP = 0.5  # a share under this fraction of a track's largest does not limit it (outvoted)


class Shares(Protocol):
    """A subscriber's :class:`~hubbub.sfu.downlink.Downlink`, as far as limits go."""

    limits: dict[str, float]
    outvoted: set[str]
    estimate: float | None


def publisher_limit(tracks: Iterable[UpTrack], downlinks: Mapping[Hashable, Shares], now: float) -> float | None:
    """The rate the publisher of ``tracks`` (all of one connection) may send, None for no limit;
    outvoted subscribers are marked in their downlinks (module docstring)."""
    total = 0.0
    limited = False
    unlimited = False
    for up in tracks:
        if up.kind == "audio":
            info = up.info(now).bitrates
            total += float(info[-1]) if info else 0.0
            continue
        if not up.elastic:  # a publisher with simulcast has no elastic tracks (classify)
            unlimited = True
            continue
        shares: list[tuple[float, Shares]] = []
        outvoted: list[Shares] = []
        best = 0.0
        for dt in up.down_tracks:
            dl = downlinks.get(dt.subscriber_key)
            if dl is None:
                continue
            if up.track_id in dl.outvoted:
                outvoted.append(dl)
                continue
            share = dl.limits.get(up.track_id)
            if share is not None:
                shares.append((share, dl))
                best = max(best, share)
            elif dl.estimate is None:
                best = math.inf  # unmeasured: takes anything
        for share, dl in shares:
            if share < KEEP * best:
                dl.outvoted.add(up.track_id)
        kept = [share for share, _ in shares if share >= KEEP * best]
        if not kept and best == 0.0:  # nobody left to outvote them
            for dl in outvoted:
                dl.outvoted.discard(up.track_id)
        if not kept:
            unlimited = True
            continue
        total += min(kept) * USED
        limited = True
    return total if limited and not unlimited else None


class RembLimit:
    """The REMBs that carry one publisher connection's limit (module docstring)."""

    __slots__ = ("_last_sent", "_lifted_left", "bps", "next_send", "sender_ssrc", "sent")

    def __init__(self, sender_ssrc: int) -> None:
        self.sender_ssrc = sender_ssrc
        self.bps: float | None = None  # the limit now
        self.next_send = float("inf")
        self.sent = 0
        self._last_sent: float | None = None  # the limit last sent (None: lifted)
        self._lifted_left = 0

    def update(self, bps: float | None, now: float) -> None:
        """The limit is ``bps`` now (None: none)."""
        if bps is None:
            if self.bps is not None:
                self.bps = None
                self._lifted_left = LIFTED_REPEAT
                self.next_send = now
            return
        self.bps = bps
        self._lifted_left = 0
        last = self._last_sent
        if last is None or bps < DROP * last:
            self.next_send = now
        elif bps > RISE * last:
            self.next_send = min(self.next_send, now + RISE_INTERVAL)

    def build(self, ssrcs: tuple[int, ...], now: float) -> list[bytes]:
        """The REMB due by ``now`` for a connection sending ``ssrcs`` (none when nothing is due)."""
        if now < self.next_send or not ssrcs:
            return []
        if self.bps is not None:
            bitrate = int(self.bps)
            self._last_sent = self.bps
            self.next_send = now + REMB_INTERVAL
        elif self._lifted_left > 0:
            bitrate = LIFTED_BPS
            self._last_sent = None
            self._lifted_left -= 1
            self.next_send = now + REMB_INTERVAL if self._lifted_left else float("inf")
        else:
            self.next_send = float("inf")
            return []
        self.sent += 1
        return [bytes(Remb(self.sender_ssrc, bitrate, ssrcs[:255]))]


class PublisherLimits:
    """The limits of a room's publisher connections, as the router keeps them (module docstring)."""

    __slots__ = ("_limits",)

    def __init__(self) -> None:
        self._limits: dict[Hashable, RembLimit] = {}  # by publisher key

    @staticmethod
    def classify(publisher_key: Hashable, tracks: Iterable[UpTrack], limitable: bool) -> None:
        """Mark the publisher's elastic tracks after its tracks changed: its single-layer videos,
        when its connection takes rate feedback (``limitable``) and sends no simulcast video (a
        REMB would hold that one back too; its single-layer videos are then ordinary ones)."""
        videos = [up for up in tracks if up.publisher_key == publisher_key and up.kind == "video"]
        limitable = limitable and not any(up.simulcast for up in videos)
        for up in videos:
            up.elastic = limitable and not up.simulcast

    def forget(self, publisher_key: Hashable) -> None:
        """The publisher's connection is gone or new: its limit starts over."""
        self._limits.pop(publisher_key, None)

    def run(
        self,
        now: float,
        allocated: bool,
        tracks: Iterable[UpTrack],
        feedback: Mapping[Hashable, tuple[PublisherFeedback, PacketSink]],
        downlinks: Mapping[Hashable, Shares],
        sender_ssrc: int,
    ) -> None:
        """Work the limits out again after allocations (``allocated``) and send the REMBs due;
        ``feedback``: the rate feedback of each publisher connection that has one."""
        limits = self._limits
        if not allocated and all(now < limit.next_send for limit in limits.values()):
            return
        by_publisher: dict[Hashable, list[UpTrack]] = {}
        for up in tracks:
            by_publisher.setdefault(up.publisher_key, []).append(up)
        for key, (rate, sink) in feedback.items():
            own = by_publisher.get(key, [])
            limit = limits.get(key)
            if allocated:
                bps = publisher_limit(own, downlinks, now) if any(up.elastic for up in own) else None
                if isinstance(rate, RemoteEstimator):
                    rate.set_limit(bps, now)
                    continue
                if limit is None:
                    if bps is None:
                        continue
                    limit = limits[key] = RembLimit(sender_ssrc)
                limit.update(bps, now)
            if limit is not None and now >= limit.next_send:
                ssrcs = tuple(layer.ssrc for up in own for layer in up.layers if layer.ssrc >= 0)
                for message in limit.build(ssrcs, now):
                    sink.send_rtcp(message)
