"""Delay-based congestion detection, GCC's (draft-ietf-rmcat-gcc-02 §5): is the path's queue growing?

Theory of operation. A sender stamps each packet with its send time; the receiver (or the sender,
from transport-wide feedback) knows its arrival time. When the path carries less than is sent, a
queue builds at the bottleneck and each packet arrives a little later, relative to when it was
sent, than the one before: the one-way delay *gradient* is positive. Three stages, one per class:

1. :class:`InterArrival` groups packets into the bursts they were sent in (a video frame's packets
   leave together, within ``group_s``; §5.2) and returns, between consecutive groups, the send
   delta, the arrival delta and the size delta. Packets the network released in one burst after a
   stall (arriving closer together than they were sent) stay in the group they would otherwise
   start, so a stall's release does not read as a sudden speed-up.
2. :class:`TrendlineEstimator` accumulates the delay variation (``arrival_delta - send_delta``),
   smooths it and fits a line through the last ``window`` points against arrival time: the slope
   is the trend of the queueing delay (libwebrtc's trendline estimator, which replaced the draft's
   Kalman filter). The trend, scaled by ``gain`` and the number of samples, is compared with an
   adaptive threshold (§5.4): it follows the scaled trend up slowly (``k_up``) and down quickly
   (``k_down``), clamped to 6..600 ms, so a path with steady jitter raises its own bar while a
   competing TCP flow cannot starve the stream. Overuse is signalled only when the trend stays
   above the threshold for more than ``overuse_time_s`` and over more than one group, and is not
   falling; underuse when it falls below minus the threshold.
3. :class:`DelayDetector` chains the two: one call per packet, the current :class:`Usage` out.

Times are seconds as floats; send times must be unwrapped (monotonic apart from reordering) by the
caller. Sans-I/O: nothing here reads a clock.
"""

from __future__ import annotations

import enum
from collections import deque

__all__ = ["DelayDetector", "InterArrival", "TrendlineEstimator", "Usage"]

_BURST_DELTA_S = 0.005  # a packet arriving this soon after its group's last one may join it (a released burst)
_MAX_BURST_S = 0.1  # ... as long as the group has not been arriving for longer than this
_RESET_S = 3.0  # arrival and send deltas this far apart: a stall or a clock jump, start over


class Usage(enum.Enum):
    """What the delay trend says about the path (the "bandwidth usage" signal of §5.5)."""

    NORMAL = "normal"
    OVERUSING = "overusing"
    UNDERUSING = "underusing"


class _Group:
    """One group of packets sent together: first and latest send time, first and last arrival, bytes."""

    __slots__ = ("arrival", "first_arrival", "first_send", "send", "size")

    def __init__(self, send_s: float, arrival_s: float, size: int) -> None:
        self.first_send = self.send = send_s
        self.first_arrival = self.arrival = arrival_s
        self.size = size


class InterArrival:
    """Deltas between consecutive packet groups (§5.2 pre-filtering)."""

    __slots__ = ("_current", "_previous", "group_s")

    def __init__(self, group_s: float = 0.005) -> None:
        self.group_s = group_s
        self._current: _Group | None = None
        self._previous: _Group | None = None

    def reset(self) -> None:
        self._current = self._previous = None

    def update(self, send_s: float, arrival_s: float, size: int) -> tuple[float, float, int] | None:
        """Packets sent within ``group_s`` of a group's first packet form one group (a frame's
        burst); when a packet starts a new group, returns ``(send_delta_s, arrival_delta_s,
        size_delta)`` between the two previous complete groups' last packets, else None.
        Reordered packets (sent before the current group) are ignored; a jump (arrival and send
        deltas more than 3 s apart: a stalled stream, or either clock jumping) resets."""
        current = self._current
        if current is None:
            self._current = _Group(send_s, arrival_s, size)
            return None
        if send_s < current.first_send:
            return None  # reordered: sent before the group now arriving
        if self._in_group(current, send_s, arrival_s):
            current.send = max(current.send, send_s)
            current.arrival = arrival_s
            current.size += size
            return None
        deltas = None
        previous = self._previous
        if previous is not None:
            send_delta = current.send - previous.send
            arrival_delta = current.arrival - previous.arrival
            if abs(arrival_delta - send_delta) >= _RESET_S or arrival_delta < 0:
                self._previous = None
                self._current = _Group(send_s, arrival_s, size)
                return None
            deltas = (send_delta, arrival_delta, current.size - previous.size)
        self._previous = current
        self._current = _Group(send_s, arrival_s, size)
        return deltas

    def _in_group(self, current: _Group, send_s: float, arrival_s: float) -> bool:
        send_delta = send_s - current.send
        if send_delta == 0:
            return True
        arrival_delta = arrival_s - current.arrival
        # a burst released after a stall: it arrives faster than it was sent
        if (
            arrival_delta - send_delta < 0
            and arrival_delta <= _BURST_DELTA_S
            and arrival_s - current.first_arrival < _MAX_BURST_S
        ):
            return True
        return send_s - current.first_send <= self.group_s


class TrendlineEstimator:
    """The queueing-delay trend over the last ``window`` groups and the overuse decision (§5.4, §5.5).

    Internally in milliseconds, the unit of libwebrtc's constants (threshold, gains)."""

    __slots__ = (
        "_accumulated",
        "_first_arrival",
        "_history",
        "_last_threshold_update",
        "_overuse_count",
        "_prev_trend",
        "_smoothed",
        "_time_over",
        "_usage",
        "deltas",
        "gain",
        "k_down",
        "k_up",
        "modified_trend",
        "overuse_time_s",
        "smoothing",
        "threshold_ms",
        "window",
    )

    MIN_DELTAS = 60  # the trend's scale grows with the samples seen, up to this many
    THRESHOLD_MIN_MS = 6.0
    THRESHOLD_MAX_MS = 600.0
    MAX_ADAPT_OFFSET_MS = 15.0  # a trend this far beyond the threshold does not move it (a spike)
    MAX_ADAPT_STEP_S = 0.1

    def __init__(self, window: int = 20, smoothing: float = 0.9, gain: float = 4.0) -> None:
        if window < 2:
            raise ValueError("the trendline window needs at least 2 points")
        self.window = window
        self.smoothing = smoothing
        self.gain = gain
        self.k_up = 0.0087
        self.k_down = 0.039
        self.overuse_time_s = 0.010
        self.threshold_ms = 12.5
        self._usage = Usage.NORMAL
        self.deltas = 0  # groups seen (capped)
        self.modified_trend = 0.0  # the last scaled trend, ms, compared with the threshold
        self._history: deque[tuple[float, float]] = deque(maxlen=window)  # (arrival ms, smoothed delay ms)
        self._first_arrival: float | None = None
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._prev_trend = 0.0
        self._time_over = -1.0  # ms the trend has been above the threshold; -1: it is not
        self._overuse_count = 0
        self._last_threshold_update: float | None = None

    @property
    def usage(self) -> Usage:
        """The latest decision."""
        return self._usage

    def update(self, send_delta_s: float, arrival_delta_s: float, arrival_s: float) -> Usage:
        """One group's deltas (from :class:`InterArrival`) and the arrival time of the packet that
        completed it; returns the new :attr:`usage`."""
        arrival_ms = arrival_s * 1000.0
        self.deltas = min(self.deltas + 1, 1000)
        if self._first_arrival is None:
            self._first_arrival = arrival_ms
        self._accumulated += (arrival_delta_s - send_delta_s) * 1000.0
        self._smoothed = self.smoothing * self._smoothed + (1.0 - self.smoothing) * self._accumulated
        self._history.append((arrival_ms - self._first_arrival, self._smoothed))
        trend = self._prev_trend
        if len(self._history) == self.window:
            slope = _slope(self._history)
            if slope is not None:
                trend = slope
        self._detect(trend, send_delta_s * 1000.0, arrival_ms)
        return self._usage

    def _detect(self, trend: float, send_delta_ms: float, now_ms: float) -> None:
        if self.deltas < 2:
            self._usage = Usage.NORMAL
            return
        modified = min(self.deltas, self.MIN_DELTAS) * trend * self.gain
        self.modified_trend = modified
        if modified > self.threshold_ms:
            if self._time_over < 0:
                self._time_over = send_delta_ms / 2  # half a sampling interval, as the first estimate
            else:
                self._time_over += send_delta_ms
            self._overuse_count += 1
            if self._time_over > self.overuse_time_s * 1000.0 and self._overuse_count > 1 and trend >= self._prev_trend:
                self._time_over = 0.0
                self._overuse_count = 0
                self._usage = Usage.OVERUSING
        elif modified < -self.threshold_ms:
            self._time_over = -1.0
            self._overuse_count = 0
            self._usage = Usage.UNDERUSING
        else:
            self._time_over = -1.0
            self._overuse_count = 0
            self._usage = Usage.NORMAL
        self._prev_trend = trend
        self._adapt_threshold(modified, now_ms)

    def _adapt_threshold(self, modified: float, now_ms: float) -> None:
        """§5.4: the threshold tracks the scaled trend, up slowly and down quickly."""
        last = self._last_threshold_update
        self._last_threshold_update = now_ms
        if last is None:
            last = now_ms
        size = abs(modified)
        if size > self.threshold_ms + self.MAX_ADAPT_OFFSET_MS:
            return
        k = self.k_down if size < self.threshold_ms else self.k_up
        step_ms = min(now_ms - last, self.MAX_ADAPT_STEP_S * 1000.0)
        threshold = self.threshold_ms + k * (size - self.threshold_ms) * step_ms
        self.threshold_ms = min(max(threshold, self.THRESHOLD_MIN_MS), self.THRESHOLD_MAX_MS)


def _slope(points: deque[tuple[float, float]]) -> float | None:
    """The least-squares slope of y over x, or None when all x are equal."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    num = den = 0.0
    for x, y in points:
        dx = x - mean_x
        num += dx * (y - mean_y)
        den += dx * dx
    return num / den if den else None


class DelayDetector:
    """:class:`InterArrival` and :class:`TrendlineEstimator` chained: one call per packet."""

    __slots__ = ("inter_arrival", "trendline")

    def __init__(self, group_s: float = 0.005, window: int = 20) -> None:
        self.inter_arrival = InterArrival(group_s)
        self.trendline = TrendlineEstimator(window)

    @property
    def usage(self) -> Usage:
        return self.trendline.usage

    def update(self, send_s: float, arrival_s: float, size: int) -> Usage:
        """One packet's send and arrival time (seconds) and size (bytes); the current usage."""
        deltas = self.inter_arrival.update(send_s, arrival_s, size)
        if deltas is not None:
            self.trendline.update(deltas[0], deltas[1], arrival_s)
        return self.trendline.usage
