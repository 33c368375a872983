"""Asking a publisher again for what its uplink lost (RFC 4585 §6.2.1 Generic NACK).

Theory of operation
-------------------
A packet lost between a publisher and the SFU is lost for every subscriber: they ask the SFU,
whose cache never held it, and the picture breaks until a key frame. So each video layer keeps
a :class:`NackRequester` that watches its sequence numbers (media packets and the ones repaired
through RTX alike):

- a packet more than one past the highest so far opens a gap: each sequence number in it is
  *missing*, asked for at once (:meth:`NackRequester.take_due`, called by the router on that
  packet) and again every :data:`RETRY_S` while it stays missing, at most :data:`MAX_TRIES`
  times and for at most :data:`MAX_AGE_S` (after that a subscriber's key frame request is the
  cheaper repair);
- a missing number that arrives (late, or as a retransmission) is no longer missing;
- a jump of more than :data:`MAX_GAP` (a restarted sender) asks for nothing and starts over, and
  at most :data:`MAX_MISSING` numbers are followed at once (the oldest go first).

Sans-I/O: time comes in as ``now``; sequence numbers are RTP's 16 bits, unwrapped inside.
"""

from __future__ import annotations

__all__ = ["MAX_AGE_S", "MAX_GAP", "MAX_MISSING", "MAX_TRIES", "RETRY_S", "NackRequester"]

RETRY_S = 0.1  # seconds between two requests for one packet (the publisher resends once a round trip)
MAX_TRIES = 6
MAX_AGE_S = 1.0  # a packet missing for longer is given up
MAX_GAP = 1000  # a larger jump is a restart, not a loss
MAX_MISSING = 500
_HALF = 1 << 15
_EPS = 1e-6  # a retry due at a tick that float arithmetic puts a hair early


class NackRequester:
    """The missing packets of one SSRC and when to ask for them (module docstring)."""

    __slots__ = ("_highest", "_missing", "_next_due", "asked", "given_up", "recovered")

    def __init__(self) -> None:
        self._highest = -1  # unwrapped
        self._missing: dict[int, tuple[float, float, int]] = {}  # unwrapped seq -> (since, last asked, tries)
        self._next_due = float("inf")
        self.asked = 0  # sequence numbers asked for, repeats counted
        self.recovered = 0  # missing ones that arrived
        self.given_up = 0

    @property
    def missing(self) -> int:
        return len(self._missing)

    def on_packet(self, seq: int, now: float) -> bool:
        """One packet of the SSRC; True when it opened a gap (a request is due at once)."""
        highest = self._highest
        if highest < 0:
            self._highest = seq
            return False
        ext = highest + ((seq - highest + _HALF) & 0xFFFF) - _HALF
        if ext <= highest:
            if self._missing.pop(ext, None) is not None:
                self.recovered += 1
            return False
        self._highest = ext
        gap = ext - highest - 1
        if gap == 0:
            return False
        if gap > MAX_GAP:
            self._missing.clear()
            return False
        missing = self._missing
        for s in range(max(highest + 1, ext - MAX_MISSING), ext):
            missing[s] = (now, float("-inf"), 0)
        while len(missing) > MAX_MISSING:
            del missing[next(iter(missing))]
        self._next_due = now
        return True

    def due(self, now: float) -> bool:
        return now >= self._next_due - _EPS

    def take_due(self, now: float) -> list[int]:
        """The sequence numbers (16-bit) to ask for now; drops what is too old or asked too often."""
        if now < self._next_due - _EPS:
            return []
        out: list[int] = []
        next_due = float("inf")
        missing = self._missing
        for s, (since, last, tries) in list(missing.items()):
            if tries >= MAX_TRIES or now - since > MAX_AGE_S:
                del missing[s]
                self.given_up += 1
                continue
            if now - last >= RETRY_S - _EPS:
                out.append(s & 0xFFFF)
                missing[s] = (since, now, tries + 1)
                last = now
            next_due = min(next_due, last + RETRY_S)
        self._next_due = next_due
        self.asked += len(out)
        return out
