"""Receive statistics for one RTP source, as a Receiver Report needs them (RFC 3550 §6.4, App. A).

* Extended highest sequence number with wrap counting and resynchronisation after a large jump
  (RFC 3550 A.1; no probation: a WebRTC source is already authenticated by SRTP).
* Cumulative and interval loss, fraction lost (A.3).
* Interarrival jitter in timestamp units (A.8), from the arrival time ``now`` and the clock rate.
"""

from __future__ import annotations

__all__ = ["ReceiveStats"]

MAX_DROPOUT = 3000  # RFC 3550 A.1
MAX_MISORDER = 100  # RFC 3550 A.1
_SEQ_MOD = 1 << 16


class ReceiveStats:
    """Per-source receive statistics. Feed :meth:`update` per packet, read :meth:`report`."""

    __slots__ = (
        "_bad_seq",
        "_base_seq",
        "_clock_rate",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_last_arrival",
        "_last_ts",
        "_max_seq",
        "_received",
        "_received_prior",
        "started",
    )

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError("clock rate must be positive")
        self._clock_rate = clock_rate
        self.started = False
        self._base_seq = 0
        self._max_seq = 0
        self._cycles = 0
        self._bad_seq = _SEQ_MOD + 1  # "so seq == bad_seq is false" (A.1)
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last_arrival = 0.0
        self._last_ts = 0

    def _init_seq(self, seq: int) -> None:
        # RFC 3550 A.1 init_seq()
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = _SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0

    def update(self, seq: int, ts: int, now: float, *, jitter: bool = True) -> bool:
        """Account for one received packet; False when it is ignored (a wild jump, A.1).

        ``jitter=False`` leaves the jitter estimate alone (e.g. for retransmissions, whose
        arrival time says nothing about the network's delay variation).
        """
        if not self.started:
            self.started = True
            self._init_seq(seq)
            self._last_arrival = now
            self._last_ts = ts
            self._received = 1
            return True
        # RFC 3550 A.1 update_seq()
        udelta = (seq - self._max_seq) & 0xFFFF
        if udelta < MAX_DROPOUT:
            if seq < self._max_seq:
                self._cycles += _SEQ_MOD  # sequence number wrapped
            self._max_seq = seq
        elif udelta <= _SEQ_MOD - MAX_MISORDER:
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
            # Two sequential packets after a jump: the source restarted.
            self._init_seq(seq)
        # else: duplicate or reordered packet
        self._received += 1
        if jitter:
            # RFC 3550 A.8: D(i,j) = (Rj - Ri) - (Sj - Si), in timestamp units, wrap-safe.
            d_ts = ((ts - self._last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            d = (now - self._last_arrival) * self._clock_rate - d_ts
            self._jitter += (abs(d) - self._jitter) / 16.0
            self._last_arrival = now
            self._last_ts = ts
        return True

    # --- reads ---------------------------------------------------------------------------------

    @property
    def received(self) -> int:
        """Packets received since the (re)start, duplicates included (A.3)."""
        return self._received

    @property
    def extended_highest_seq(self) -> int:
        """Cycles (upper 16 bits) and highest sequence number received (RFC 3550 §6.4.1)."""
        return (self._cycles + self._max_seq) & 0xFFFFFFFF

    @property
    def expected(self) -> int:
        """A.3: extended highest - base + 1."""
        if not self.started:
            return 0
        return self._cycles + self._max_seq - self._base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """A.3 cumulative number of packets lost, clamped to the signed 24-bit field."""
        return max(-0x800000, min(0x7FFFFF, self.expected - self._received))

    @property
    def jitter(self) -> float:
        """Interarrival jitter estimate in timestamp units (A.8)."""
        return self._jitter

    @property
    def jitter_seconds(self) -> float:
        return self._jitter / self._clock_rate

    def report(self) -> tuple[int, int, int, int]:
        """``(fraction_lost, cumulative_lost, extended_highest_seq, jitter)`` for a report block.

        Starts a new reporting interval (A.3): the fraction counts the loss since the last call,
        in 1/256 units, 0 when packets were duplicated rather than lost.
        """
        expected = self.expected
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self._received - self._received_prior
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return fraction, self.cumulative_lost, self.extended_highest_seq, int(self._jitter)
