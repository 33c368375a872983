"""A sliding-window limiter on an injected clock (login attempts, later message sends)."""

from __future__ import annotations

from collections import deque


class SlidingWindowLimiter:
    """At most ``limit`` events per key in any ``window`` seconds."""

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until one more event is allowed for ``key`` (0 when allowed now)."""
        q = self._events.get(key)
        if q is None:
            return 0.0
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._events[key]
            return 0.0
        if len(q) < self.limit:
            return 0.0
        return q[0] + self.window - now

    def hit(self, key: str, now: float) -> None:
        if key not in self._events and len(self._events) >= self.max_keys:
            self._evict(now)
        self._events.setdefault(key, deque()).append(now)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def _evict(self, now: float) -> None:
        stale = [k for k, q in self._events.items() if not q or q[-1] <= now - self.window]
        for k in stale:
            del self._events[k]
        if len(self._events) >= self.max_keys:  # still full: drop the oldest keys
            for k in list(self._events)[: len(self._events) // 10 + 1]:
                del self._events[k]
