"""One re-armable deadline per peer, on the event loop.

The sans-I/O engines (ICE consent, RFC 7675 §5.1; DTLS retransmission, RFC 6347 §4.2.4) each
report the time they next need attention. A peer keeps a single ``Deadline`` set to the earliest
of them and moves it only after a STUN or DTLS event or a timer firing, never per media packet.

Times are in the server's clock (``now``), which need not be the loop's: the delay is converted
when the timer is armed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Deadline"]


class Deadline:
    """Calls ``callback`` once at the time last given to ``set`` (None: never)."""

    __slots__ = ("_at", "_callback", "_handle", "_loop", "_now")

    def __init__(self, loop: asyncio.AbstractEventLoop, now: Callable[[], float], callback: Callable[[], None]) -> None:
        self._loop = loop
        self._now = now
        self._callback = callback
        self._at: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def at(self) -> float | None:
        return self._at

    def set(self, when: float | None) -> None:
        if when == self._at:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._at = when
        if when is not None:
            self._handle = self._loop.call_later(max(0.0, when - self._now()), self._fire)

    def cancel(self) -> None:
        self.set(None)

    def _fire(self) -> None:
        self._handle = None
        self._at = None
        self._callback()
