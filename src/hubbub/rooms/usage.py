"""Participant-minutes per project, metered as rooms run and reported once a minute."""

from __future__ import annotations

from collections.abc import Callable

from hubbub.rooms.model import ParticipantState, Room
from hubbub.schema import signaling as sig

UsageReport = Callable[[str, float, float], None]
"""``(app_id, audio_minutes, video_minutes)``: minutes metered since the last report."""

FLUSH_INTERVAL = 60.0


class UsageMeter:
    def __init__(self, report: UsageReport | None) -> None:
        self._report = report
        self._metered: dict[str, list[float]] = {}  # app_id -> [audio seconds, video seconds] not yet reported
        self._next_flush = 0.0

    def meter(self, room: Room, seconds: float) -> None:
        """Participant-minutes, as the industry bills them: a participant receiving any video
        counts as video, otherwise as audio (publishing alone counts as audio)."""
        bucket = self._metered.setdefault(room.app_id, [0.0, 0.0])
        for p in room.participants.values():
            if p.state is not ParticipantState.joined:
                continue
            receives_video = any(
                (found := room.publication(sid)) is not None and found[1].kind is sig.TrackKind.video
                for sid in p.subscriptions
            )
            bucket[1 if receives_video else 0] += seconds

    def flush(self, now: float, *, force: bool = False) -> None:
        """Report metered minutes (every minute, and at shutdown with ``force``)."""
        if self._report is None or (not force and now < self._next_flush):
            return
        self._next_flush = now + FLUSH_INTERVAL
        metered, self._metered = self._metered, {}
        for app_id, (audio_s, video_s) in metered.items():
            if audio_s or video_s:
                self._report(app_id, audio_s / 60.0, video_s / 60.0)
