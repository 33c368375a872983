"""A receive-side rate estimate for publishers that understand only REMB (aiortc, older clients).

Theory of operation. A publisher that negotiated the abs-send-time header extension (and not
transport-cc, whose feedback lets it estimate for itself) stamps each packet with its send time:
24 bits of 6.18 fixed-point seconds, wrapping every 64 s. :class:`RemoteEstimator` unwraps that
clock, pairs each send time with the packet's arrival ``now`` and runs GCC's receive-side
controller over it (draft-ietf-rmcat-gcc-02 §5, as libwebrtc's remote bitrate estimator does):

- :class:`~hubbub.proto.cc.delay.DelayDetector` says whether the path's queue grows;
- the incoming bitrate is what arrived over the last second (every packet that carries the
  extension, header included);
- :class:`~hubbub.proto.cc.aimd.AimdRateControl` turns both into a target, updated every feedback
  interval (0.2..1 s) and, while the path is overused, as soon as a decrease is due;
- the target goes to the publisher as REMB (:class:`hubbub.proto.rtcp_feedback.Remb`, with the
  SSRCs seen in the last two seconds) once a second, and at once when it falls by 3% or more.

The first estimate is the incoming rate once packets have arrived for ``INIT_S`` (the sender's
own start rate, measured), or earlier a decrease on overuse; nothing is sent before it, so a
publisher keeps its start rate until the estimate has something to say. After a pause of more
than ``SSRC_TIMEOUT_S`` the measurement starts over (the send clock, the window, the detector)
and the estimate stands. Sans-I/O: time comes in
as ``now`` (seconds); rates are bit/s.
"""

from __future__ import annotations

from collections import deque

from hubbub.proto import rtp_ext
from hubbub.proto.cc.aimd import AimdRateControl
from hubbub.proto.cc.delay import DelayDetector, Usage
from hubbub.proto.rtcp_feedback import Remb

__all__ = ["INIT_S", "REMB_INTERVAL", "RemoteEstimator"]

INIT_S = 2.0  # seconds of arrivals before the incoming rate becomes the first estimate
REMB_INTERVAL = 1.0  # seconds between REMB messages while the estimate holds or rises
REMB_DROP = 0.97  # an estimate under this fraction of the last one sent is sent at once
WINDOW_S = 1.0  # the incoming bitrate's window
SSRC_TIMEOUT_S = 2.0  # an SSRC not heard for this long leaves the REMB's list
MAX_SSRCS = 255  # what a REMB's 8-bit count can list
_WRAP = 1 << 24
_HALF = 1 << 23
_TICKS_PER_S = float(1 << 18)


class RemoteEstimator:
    """The receive-side estimate of one publisher connection, reported as REMB.

    ``ext_id`` is the negotiated id of abs-send-time; ``sender_ssrc`` is ours (the router's RTCP
    SSRC). Implements :class:`hubbub.proto.cc.publisher.PublisherFeedback`.
    """

    __slots__ = (
        "_first_arrival",
        "_last_packet",
        "_last_update",
        "_send24",
        "_send_ticks",
        "_ssrcs",
        "_window",
        "_window_bytes",
        "detector",
        "ext_id",
        "initialized",
        "last_sent_bps",
        "limit_bps",
        "next_send",
        "rate",
        "sender_ssrc",
        "sent",
    )

    def __init__(self, ext_id: int, sender_ssrc: int, *, min_bps: float = 30_000, max_bps: float = 20_000_000) -> None:
        self.ext_id = ext_id
        self.sender_ssrc = sender_ssrc
        self.detector = DelayDetector()
        self.rate = AimdRateControl(start_bps=max_bps, min_bps=min_bps, max_bps=max_bps)
        self.initialized = False  # whether the estimate is worth sending yet
        self.next_send = float("inf")  # nothing is due before the first estimate
        self.last_sent_bps: float | None = None
        self.limit_bps: float | None = None  # a cap on what is sent, from the subscribers (set_limit)
        self.sent = 0
        self._send24 = -1  # the latest abs-send-time value (the unwrapping reference)
        self._send_ticks = 0  # its unwrapped value, 2^-18 s ticks
        self._ssrcs: dict[int, float] = {}  # SSRC -> last arrival
        self._window: deque[tuple[float, int]] = deque()
        self._window_bytes = 0
        self._first_arrival: float | None = None
        self._last_packet = float("-inf")
        self._last_update: float | None = None

    @property
    def target_bps(self) -> float | None:
        """The current estimate; None before the first."""
        return self.rate.target_bps if self.initialized else None

    def incoming_bps(self, now: float) -> float | None:
        """What arrived over the last second; None until a full window has passed."""
        window = self._window
        while window and window[0][0] <= now - WINDOW_S:
            self._window_bytes -= window.popleft()[1]
        first = self._first_arrival
        if first is None or now - first < WINDOW_S:
            return None
        return self._window_bytes * 8 / WINDOW_S

    def on_packet(self, packet: bytes, ssrc: int, now: float) -> None:
        """One RTP packet; one without the extension (or with a value shorter than 3 bytes) is
        ignored. Raises ``ValueError`` on a malformed header extension block."""
        if not packet[0] & 0x10:
            return
        value = rtp_ext.find_ext(packet, 12 + (packet[0] & 0x0F) * 4, self.ext_id)
        if value is None or len(value) < 3:
            return
        if now - self._last_packet > SSRC_TIMEOUT_S:
            self._resume()
        send_s = self._unwrap((value[0] << 16) | (value[1] << 8) | value[2])
        self._last_packet = now
        self._ssrcs[ssrc] = now
        size = len(packet)
        if self._first_arrival is None:
            self._first_arrival = now
        self._window.append((now, size))
        self._window_bytes += size
        usage = self.detector.update(send_s, now, size)
        self._control(usage, now)

    def _resume(self) -> None:
        """Packets again after a pause (or for the first time): the send clock may have moved by
        more than the unwrapping can tell and the rate window is stale, so both start over, and
        so does the detector; the estimate stands."""
        self._ssrcs.clear()
        self._send24 = -1
        self._window.clear()
        self._window_bytes = 0
        self._first_arrival = None
        if self._last_packet > float("-inf"):
            self.detector = DelayDetector()

    def _unwrap(self, send24: int) -> float:
        """Unwrapped send time in seconds, against the latest value (a reordered packet's lies
        behind it; the reference only moves forward)."""
        if self._send24 < 0:
            self._send24 = send24
            self._send_ticks = send24
        else:
            delta = ((send24 - self._send24 + _HALF) % _WRAP) - _HALF
            if delta > 0:
                self._send24 = send24
                self._send_ticks += delta
                return self._send_ticks / _TICKS_PER_S
            return (self._send_ticks + delta) / _TICKS_PER_S
        return self._send_ticks / _TICKS_PER_S

    def _control(self, usage: Usage, now: float) -> None:
        rate = self.rate
        incoming = self.incoming_bps(now)
        due = False
        if usage is Usage.OVERUSING and incoming is not None:
            due = self._last_update is None or rate.time_to_reduce_further(now, incoming)
        if not due:
            due = self._last_update is None or now - self._last_update >= rate.feedback_interval_s()
        if not due:
            return
        assert self._first_arrival is not None
        if not self.initialized:
            if usage is Usage.OVERUSING and incoming is not None:
                self.initialized = True  # a decrease from the incoming rate: below follows
            elif incoming is not None and now - self._first_arrival >= INIT_S:
                self.initialized = True
                rate.set_estimate(incoming, now)
                self._last_update = now
                self.next_send = now
                return
            else:
                return
            self.next_send = now
        rate.update(usage, incoming, now)
        self._last_update = now
        last = self.last_sent_bps
        if last is not None and self._reported_bps() < REMB_DROP * last:
            self.next_send = now

    def _reported_bps(self) -> float:
        """What a REMB says now: the estimate, or the limit below it."""
        target, limit = self.rate.target_bps, self.limit_bps
        return target if limit is None else min(target, limit)

    def set_limit(self, bps: float | None, now: float) -> None:
        """Send at most ``bps`` (None: the estimate alone), the limit of the subscribers
        (:mod:`hubbub.sfu.uplink`); a limit that lowers what was sent by 3% or more goes at once."""
        self.limit_bps = bps
        last = self.last_sent_bps
        if self.initialized and bps is not None and last is not None and bps < REMB_DROP * last:
            self.next_send = now

    def due(self, now: float) -> bool:
        return now >= self.next_send and self.initialized and now - self._last_packet <= SSRC_TIMEOUT_S

    def build(self, now: float) -> list[bytes]:
        """The REMB (none before the first estimate or once packets have stopped)."""
        if not self.initialized:
            self.next_send = float("inf")
            return []
        self.next_send = now + REMB_INTERVAL
        self._ssrcs = {s: seen for s, seen in self._ssrcs.items() if now - seen <= SSRC_TIMEOUT_S}
        ssrcs = tuple(self._ssrcs)[:MAX_SSRCS]
        if not ssrcs:
            return []
        bitrate = int(self._reported_bps())
        self.last_sent_bps = bitrate
        self.sent += 1
        return [bytes(Remb(self.sender_ssrc, bitrate, ssrcs))]
