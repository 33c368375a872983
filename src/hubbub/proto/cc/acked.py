"""The acknowledged bitrate: the rate at which one connection's packets reached the receiver, from
the arrival times its transport-cc feedback reports.

:class:`AckedBitrate` sums the sizes of the packets reported received over a sliding window of
*arrival* time (the receiver's clock, as the feedback carries it), so what it measures is the rate
the path delivered, whatever the feedback's own timing: a burst of late feedback messages, or one
message that covers a second, changes nothing but when the answer is known. This is the
"incoming rate" that GCC's delay-based controller multiplies on overuse (draft-ietf-rmcat-gcc-02
§5.5) and that caps its increase, as libwebrtc's AcknowledgedBitrateEstimator does.

The window is :data:`WINDOW_S` seconds of arrival time, summed in bins of 1/20th of it (a ring of
counters: packets reported out of order, or a second late, land in their own bin); the rate is
known once the arrivals span :data:`MIN_SPAN_S` (over the span so far until a whole window is
covered). A packet that arrived a whole window before the latest is too old to count. Per packet:
a division and two list writes; per read: a sum over the bins. Sans-I/O; rates are bit/s.
"""

from __future__ import annotations

__all__ = ["MIN_SPAN_S", "WINDOW_S", "AckedBitrate"]

WINDOW_S = 0.5  # seconds of arrival time summed (libwebrtc's first window is 500 ms)
MIN_SPAN_S = 0.1  # no rate before the arrivals span this much
_BINS = 20  # the window is summed in bins of WINDOW_S / _BINS of arrival time


class AckedBitrate:
    """Bytes acknowledged over a sliding window of arrival time. :attr:`rate_bps` is None until
    the arrivals span :data:`MIN_SPAN_S`."""

    __slots__ = ("_bin_s", "_bytes", "_first", "_index", "_latest_bin", "latest", "window_s")

    def __init__(self, window_s: float = WINDOW_S) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = window_s
        self._bin_s = window_s / _BINS
        self._bytes = [0] * _BINS  # bytes per bin of arrival time, a ring
        self._index = [-1] * _BINS  # which bin (arrival_s // _bin_s) each slot holds
        self._latest_bin = -1
        self._first = float("inf")  # the earliest arrival counted since the start (or reset)
        self.latest = float("-inf")  # the latest arrival counted

    def reset(self) -> None:
        """Forget everything (the path changed)."""
        self._bytes = [0] * _BINS
        self._index = [-1] * _BINS
        self._latest_bin = -1
        self._first = float("inf")
        self.latest = float("-inf")

    def on_packet(self, arrival_s: float, size: int) -> None:
        """One packet the feedback reports received at ``arrival_s`` (receiver clock), ``size``
        bytes as sent (RTP header and payload)."""
        b = int(arrival_s // self._bin_s)
        slot = b % _BINS
        held = self._index[slot]
        if held != b:
            if b < held:
                return  # a whole window older than a packet already counted
            self._index[slot] = b
            self._bytes[slot] = size
        else:
            self._bytes[slot] += size
        if b > self._latest_bin:
            self._latest_bin = b
        if arrival_s > self.latest:
            self.latest = arrival_s
        if arrival_s < self._first:
            self._first = arrival_s

    @property
    def rate_bps(self) -> float | None:
        """The delivered rate over the window ending at the latest arrival."""
        if self.latest - self._first < MIN_SPAN_S:
            return None
        oldest = self._latest_bin - _BINS + 1
        total = 0
        for b, n in zip(self._index, self._bytes, strict=True):
            if b >= oldest:
                total += n
        span = self.latest - max(self._first, oldest * self._bin_s)
        return total * 8.0 / span if span > 0 else None
