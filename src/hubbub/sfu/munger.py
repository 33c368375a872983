"""Sequence number and timestamp rewriting for one down-track (RFC 3550 §5.1, §8.2).

Theory of operation
-------------------
A subscriber must see one continuous RTP stream per down-track even though what feeds it
changes: it starts at an arbitrary packet, may be muted or paused, and may later switch to
another source (a simulcast layer, a replaced publisher). The munger keeps that illusion.

* Output = input + offset, with the offsets fixed for an *epoch*. Working on extended
  (unwrapped) sequence numbers makes the 65535 -> 0 wrap a non-event.
* The first packet opens the first epoch at random bases (RFC 3550 §5.1: the initial values
  "SHOULD be random").
* Loss inside an epoch keeps its gap: the subscriber must see it to send a NACK
  (RFC 4585 §6.2.1). Reordered or repeated packets map to the output they would have had.
* ``mute()`` marks the epoch closed: packets the down-track drops while muted are never seen
  here, and the next packet opens a new epoch whose first output is ``last + 1``, so the
  subscriber sees no hole to NACK. The timestamp offset is kept: the source's clock ran on.
* ``switch_source(now)`` does the same and also moves the timestamp offset so the output clock
  advances by the wall time elapsed since the last packet (never backwards), and starts a new
  *generation*: packets of the old source can no longer be mapped.
* ``drop(seq)`` leaves one packet of the open epoch out on purpose (a temporal layer above the
  subscriber's cap): the epoch ends just before it and the packets after it move down by one,
  so the subscriber sees no hole there, while holes left by loss before it stay (and a late
  arrival into one still maps through the epoch it belongs to).
* A bounded list of epochs answers :meth:`Munger.reverse` (output seq -> input seq and
  timestamp offset) for NACKs, and maps late packets of closed epochs.

The steady state (next packet of the open epoch, gap or not) is one branch in :meth:`munge`.
:meth:`snapshot` and :meth:`restore` let a mirror of that branch (the native fan-out) take the
open epoch's position and give it back: it may move the position on, never open an epoch.
"""

from __future__ import annotations

from collections import deque

__all__ = ["Munger"]

_START = 1  # no epoch yet: the next packet opens the first one
_RESUME = 2  # mute/pause ended: same source, new sequence offset
_SWITCH = 3  # new source: new sequence offset, timestamp moved by elapsed time


class _Epoch:
    """A run of packets with fixed offsets. Extended input seqs ``in_start..in_last``."""

    __slots__ = ("generation", "in_last", "in_start", "out_start", "seq_off", "ts_off")

    def __init__(self, out_start: int, in_start: int, seq_off: int, ts_off: int, generation: int) -> None:
        self.out_start = out_start
        self.in_start = in_start
        self.in_last = in_start
        self.seq_off = seq_off
        self.ts_off = ts_off
        self.generation = generation


class Munger:
    """Per down-track seq/ts rewriting. Not thread-safe; deterministic given its bases."""

    __slots__ = (
        "_clock_rate",
        "_epochs",
        "_generation",
        "_in_ext",
        "_in_ts",
        "_last_now",
        "_seq_base",
        "_seq_off",
        "_state",
        "_switch_time",
        "_switch_ts",
        "_ts_base",
        "_ts_off",
    )

    def __init__(self, clock_rate: int, seq_base: int, ts_base: int, *, max_epochs: int = 16) -> None:
        if clock_rate <= 0:
            raise ValueError("clock rate must be positive")
        self._clock_rate = clock_rate
        self._seq_base = seq_base & 0xFFFF
        self._ts_base = ts_base & 0xFFFFFFFF
        self._state = _START
        self._generation = 0
        # The open epoch: its highest extended input seq (congruent to the 16-bit seq) and
        # that packet's input ts. Extended output seq = extended input seq + _seq_off;
        # output ts = (input ts + _ts_off) mod 2^32.
        self._in_ext = 0
        self._in_ts = 0
        self._seq_off = 0
        self._ts_off = 0
        self._last_now = 0.0  # arrival time of the highest packet
        self._switch_time = 0.0
        self._switch_ts: int | None = None
        self._epochs: deque[_Epoch] = deque(maxlen=max_epochs)

    # --- state --------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True once a packet has been mapped."""
        return bool(self._epochs)

    @property
    def last_seq(self) -> int:
        """The highest output sequence number so far (16 bit)."""
        return (self._in_ext + self._seq_off) & 0xFFFF

    @property
    def last_ts(self) -> int:
        """The output timestamp of the packet with the highest output sequence number."""
        return (self._in_ts + self._ts_off) & 0xFFFFFFFF

    @property
    def last_time(self) -> float:
        """Arrival time (``now``) of the packet with the highest output sequence number."""
        return self._last_now

    @property
    def ts_offset(self) -> int:
        """Current ``output ts - input ts`` modulo 2^32 (for Sender Reports, RFC 3550 §6.4.1)."""
        return self._ts_off

    def snapshot(self) -> tuple[int, int, float, int, int, bool]:
        """The open epoch: ``(in_ext, in_ts, last_now, seq_off, ts_off, open)``.

        ``in_ext`` is the highest extended input seq, ``in_ts`` and ``last_now`` that packet's
        input timestamp and arrival time; output seq = input + ``seq_off``, output ts = input +
        ``ts_off`` (mod 2^32). ``open`` is False while the next packet must go through
        :meth:`munge` (no epoch yet, after :meth:`mute` or :meth:`switch_source`).
        """
        return self._in_ext, self._in_ts, self._last_now, self._seq_off, self._ts_off, self._state == 0

    def restore(self, state: tuple[int, int, float, int, int, bool]) -> None:
        """Take back a :meth:`snapshot` whose position was moved on by a mirror of the steady state.

        Only the position (``in_ext``, ``in_ts``, ``last_now``) is taken, and only forwards;
        the offsets must be those of the open epoch, else ``ValueError`` (the mirror ran a
        stale epoch).
        """
        in_ext, in_ts, last_now, seq_off, ts_off, _open = state
        if seq_off != self._seq_off or ts_off != self._ts_off or in_ext < self._in_ext:
            raise ValueError("the snapshot is not of this munger's open epoch")
        self._in_ext = in_ext
        self._in_ts = in_ts
        self._last_now = last_now

    def mute(self) -> None:
        """Packets are about to be dropped upstream; the next one continues at ``last + 1``."""
        if self._state == 0:
            self._state = _RESUME

    def switch_source(self, now: float, ts: int | None = None) -> None:
        """The next packet comes from a new source (own seq/ts space); ``now`` is the switch time.

        The output continues at ``last seq + 1``; its timestamp advances by the wall time
        elapsed since the last packet sent, times the clock rate (at least one tick). ``ts``,
        when given, is the output timestamp the first packet should have (its capture time on
        the old source's clock, from both sources' Sender Reports): within five seconds of the
        last one it is taken instead, or one tick past the last one when it is not ahead (a
        picture of the same instant as the last one sent).
        """
        if self._state != _START:
            self._state = _SWITCH
            self._switch_time = now
            self._switch_ts = ts

    def drop(self, seq: int, ts: int, now: float) -> None:
        """The source's packet ``seq`` is not forwarded: the ones after it close up (no hole).

        Only a packet newer than any mapped so far in the open epoch moves the numbering; an
        older one (a retransmission of a dropped packet) or one outside an open epoch changes
        nothing.
        """
        if self._state:
            return
        d = (seq - self._in_ext) & 0xFFFF
        if not 0 < d < 0x8000:
            return
        ext = self._in_ext + d
        self._seq_off -= 1
        last = self._epochs[-1]
        if last.in_start > self._in_ext:  # only drops since it opened: move its start on
            last.in_start = ext + 1
            last.seq_off = self._seq_off
            last.out_start = ext + 1 + self._seq_off
        else:  # it ends before ``seq``, loss gaps included; the next one starts after ``seq``
            last.in_last = ext - 1
            out = ext + 1 + self._seq_off
            self._epochs.append(_Epoch(out, ext + 1, self._seq_off, self._ts_off, self._generation))
        self._in_ext = ext
        self._in_ts = ts
        self._last_now = now

    # --- hot path -----------------------------------------------------------------------------

    def munge(self, seq: int, ts: int, now: float) -> tuple[int, int] | None:
        """Map an input ``(seq, ts)`` to the output ``(seq, ts)``, or None to drop the packet.

        A packet is dropped when it is older than the start of the current source (or than
        the history kept), or belongs to a stretch dropped while muted.
        """
        ext = self._in_ext
        d = (seq - ext) & 0xFFFF
        if 0 < d < 0x8000 and not self._state:  # newer packet of the open epoch, gap or not
            ext += d
            self._in_ext = ext
            self._in_ts = ts
            self._last_now = now
            return (ext + self._seq_off) & 0xFFFF, (ts + self._ts_off) & 0xFFFFFFFF
        return self._munge_slow(seq, ts, now)

    def _munge_slow(self, seq: int, ts: int, now: float) -> tuple[int, int] | None:
        state = self._state
        if state in (_START, _SWITCH):
            if state == _START:
                out = self._seq_base
                ots = self._ts_base
            else:
                out = self._in_ext + self._seq_off + 1
                # RFC 3550 §5.1: the timestamp must advance with the sampling clock.
                start = max(now, self._switch_time)
                elapsed = max(1, round((start - self._last_now) * self._clock_rate))
                ots = (self.last_ts + elapsed) & 0xFFFFFFFF
                hint = self._switch_ts
                if hint is not None:  # the new source's own capture time, on the output's clock
                    ahead = ((hint - self.last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                    if abs(ahead) < self._clock_rate * 5:
                        ots = (hint if ahead > 0 else self.last_ts + 1) & 0xFFFFFFFF
                self._generation += 1
            self._open(seq & 0xFFFF, out, ots - ts, ts, now)
            return out & 0xFFFF, ots
        ext = self._in_ext + (((seq - self._in_ext + 0x8000) & 0xFFFF) - 0x8000)
        if state == _RESUME and ext > self._in_ext:
            out = self._in_ext + self._seq_off + 1
            self._open(ext, out, self._ts_off, ts, now)
            return out & 0xFFFF, (ts + self._ts_off) & 0xFFFFFFFF
        # Late, repeated or retransmitted packet: map it through the epoch it belongs to.
        epoch = self._epoch_for_input(ext)
        if epoch is None:
            return None
        return (ext + epoch.seq_off) & 0xFFFF, (ts + epoch.ts_off) & 0xFFFFFFFF

    def _open(self, ext: int, out: int, ts_off: int, ts: int, now: float) -> None:
        """Close the open epoch (if any) and open one whose first packet is ``ext`` -> ``out``."""
        if self._epochs:
            self._epochs[-1].in_last = self._in_ext
        self._in_ext = ext
        self._in_ts = ts
        self._seq_off = out - ext
        self._ts_off = ts_off & 0xFFFFFFFF
        self._last_now = now
        self._epochs.append(_Epoch(out, ext, self._seq_off, self._ts_off, self._generation))
        self._state = 0

    def _epoch_for_input(self, ext: int) -> _Epoch | None:
        gen = self._generation
        epochs = self._epochs
        last = len(epochs) - 1
        for i in range(last, -1, -1):
            e = epochs[i]
            if e.generation != gen:
                return None
            hi = self._in_ext if i == last else e.in_last
            if e.in_start <= ext <= hi:
                return e
            if ext > hi:
                return None  # dropped while muted, between two epochs
        return None

    # --- NACK support (RFC 4585 §6.2.1) -------------------------------------------------------

    def reverse(self, out_seq: int) -> tuple[int, int] | None:
        """Map an output seq back to ``(input seq, ts offset)`` of the current source, or None.

        None when the seq was never sent from the current source (a gap left by a mute, a
        previous source, beyond the history kept, or not sent yet).
        """
        if not self._epochs:
            return None
        out_high = self._in_ext + self._seq_off
        back = (out_high - out_seq) & 0xFFFF
        if back >= 0x8000:
            return None
        ext_out = out_high - back
        gen = self._generation
        epochs = self._epochs
        last = len(epochs) - 1
        for i in range(last, -1, -1):
            e = epochs[i]
            if e.generation != gen:
                return None
            if ext_out >= e.out_start:
                ext_in = ext_out - e.seq_off
                hi = self._in_ext if i == last else e.in_last
                if ext_in > hi:
                    return None
                return ext_in & 0xFFFF, e.ts_off
        return None
