"""Active speaker detection from the client-to-mixer audio level (RFC 6464).

Each audio up-track that carries ``urn:ietf:params:rtp-hdrext:ssrc-audio-level`` gets an
:class:`AudioLevelMeter`; the receive path adds each packet's level (-dBov, 0 loud .. 127
silent, RFC 6464 §3) to it. :meth:`ActiveSpeakerDetector.update` closes fixed windows
(~300 ms): a window's level is the mean linear amplitude of its packets (10^(-dBov/20), the
scale of WebRTC's ``audioLevel`` statistic), 0 when no packet came (DTX silence). A track is
speaking when at least ``min_windows`` of the last ``history`` windows were at or above the
threshold; that is the hysteresis: one loud window does not start a speaker, one quiet window
does not stop one. Speakers are ordered by the mean level of those windows, loudest first.
"""

from __future__ import annotations

from collections import deque

__all__ = ["ActiveSpeakerDetector", "AudioLevelMeter", "dbov_to_level"]


def dbov_to_level(dbov: float) -> float:
    """-dBov (0..127) to a linear amplitude in 0..1 (0 dBov -> 1.0)."""
    return float(10.0 ** (-max(0.0, min(127.0, dbov)) / 20.0))


# 10^(-i/20) for each RFC 6464 level, so the receive path does no arithmetic.
_AMPLITUDE = tuple(dbov_to_level(i) for i in range(128))


class AudioLevelMeter:
    """Accumulates the levels of one track's packets for the current window."""

    __slots__ = ("_count", "_sum", "use_vad_bit", "windows")

    def __init__(self, history: int, *, use_vad_bit: bool = False) -> None:
        self._sum = 0.0
        self._count = 0
        self.use_vad_bit = use_vad_bit
        self.windows: deque[float] = deque(maxlen=history)

    def add(self, level: int, voice: bool = True) -> None:
        """One packet's RFC 6464 level (-dBov) and V bit."""
        if self.use_vad_bit and not voice:
            level = 127
        self._sum += _AMPLITUDE[level & 0x7F]
        self._count += 1

    def close_window(self) -> float:
        """End the window: record and return its mean amplitude."""
        level = self._sum / self._count if self._count else 0.0
        self._sum = 0.0
        self._count = 0
        self.windows.append(level)
        return level


class ActiveSpeakerDetector:
    """Tracks audio levels per track and reports the ordered list of active speakers."""

    def __init__(
        self,
        *,
        window: float = 0.3,
        threshold_dbov: float = 45.0,
        history: int = 3,
        min_windows: int = 2,
        use_vad_bit: bool = False,
    ) -> None:
        if window <= 0 or not 1 <= min_windows <= history:
            raise ValueError("invalid window, history or min_windows")
        self.window = window
        self.threshold = dbov_to_level(threshold_dbov)
        self.history = history
        self.min_windows = min_windows
        self.use_vad_bit = use_vad_bit
        self._meters: dict[str, AudioLevelMeter] = {}
        self._window_end: float | None = None
        self._last: list[str] = []

    def add_track(self, track_id: str) -> AudioLevelMeter:
        meter = AudioLevelMeter(self.history, use_vad_bit=self.use_vad_bit)
        self._meters[track_id] = meter
        return meter

    def remove_track(self, track_id: str) -> None:
        self._meters.pop(track_id, None)

    def meter(self, track_id: str) -> AudioLevelMeter | None:
        return self._meters.get(track_id)

    def _close_windows(self, now: float) -> bool:
        if self._window_end is None:
            self._window_end = now + self.window
            return False
        if now < self._window_end:
            return False
        closed = 0
        while now >= self._window_end and closed < self.history:
            # The first window gets the packets; windows skipped by a late call were silent.
            for meter in self._meters.values():
                meter.close_window()
            self._window_end += self.window
            closed += 1
        if now >= self._window_end:  # more than `history` windows skipped: realign
            self._window_end = now + self.window
        return True

    def speakers(self) -> list[tuple[str, float]]:
        """The current speakers as ``(track_id, level 0..1)``, loudest first."""
        out: list[tuple[str, float]] = []
        for track_id, meter in self._meters.items():
            windows = meter.windows
            if sum(1 for w in windows if w >= self.threshold) >= self.min_windows:
                out.append((track_id, sum(windows) / len(windows)))
        out.sort(key=lambda item: -item[1])
        return out

    def update(self, now: float) -> list[tuple[str, float]] | None:
        """Close the windows that ended by ``now``; a new list only when the speakers changed.

        "Changed" means a different set or order of track ids; levels ride along. Call it every
        200-300 ms; the result is None when nothing changed.
        """
        if not self._close_windows(now):
            return None
        current = self.speakers()
        ids = [track_id for track_id, _level in current]
        if ids == self._last:
            return None
        self._last = ids
        return current
