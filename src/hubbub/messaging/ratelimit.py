"""Token buckets on an injected clock (sans-I/O): per-connection send and frame limits."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; each event takes one."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def _refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when allowed, else the seconds until it would be."""
        self._refill(now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate if self.rate > 0 else float("inf")

    def debt(self, now: float) -> float:
        """How far below empty refused events would have driven the bucket (for flood checks)."""
        self._refill(now)
        return max(0.0, -self.tokens)

    def charge(self, now: float, cost: float = 1.0) -> None:
        """Take tokens whether or not there are any (the bucket may go negative)."""
        self._refill(now)
        self.tokens -= cost
