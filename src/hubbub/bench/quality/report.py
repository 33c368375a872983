"""One result of ``hubbub bench quality``, from what the lab pages collected, and the readable table.

The numbers are :func:`hubbub.schema.quality.summarise`'s: the receiving page's samples, render
times and stamp delays give the received side, the sending page's samples the sent side (its
bitrate, frame size and ``qualityLimitationReason``). ``adapt_s`` comes from the received video
and audio bitrate together, second by second, after a capacity step
(:func:`hubbub.schema.quality.time_to_adapt_s`), and ``adapt_freeze_ms`` is the render-gap freeze
time from the step until the next change; ``recv_kbps_end`` is the received video's bitrate over
the last 5 s (past the ramp-up).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import msgspec

from hubbub.schema.quality import StreamSample, bitrate_kbps, render_gap_freezes, summarise, time_to_adapt_s

FIELDS = (
    "server",
    "scenario",
    "leg",
    "send_kbps",
    "recv_kbps",
    "recv_media_kbps",
    "width",
    "height",
    "fps",
    "freeze_count",
    "freeze_ms",
    "audio_concealed_pct",
    "e2e_delay_ms_p50",
    "e2e_delay_ms_p95",
    "wer",
    "adapt_s",
    "quality_limitation_reason",
)
END_MS = 5000.0
SENT = ("send_kbps", "sent_width", "sent_height", "sent_fps", "quality_limitation_reason")


def samples_of(collected: dict[str, Any] | None) -> list[StreamSample]:
    return msgspec.convert((collected or {}).get("samples") or [], list[StreamSample])


def recv_series(samples: Sequence[StreamSample], kinds: tuple[str, ...] = ("video",)) -> list[tuple[float, float]]:
    """``(at_ms, kbps)`` received, interval by interval (all inbound streams of those kinds)."""
    by_time: dict[float, list[StreamSample]] = {}
    for s in samples:
        if s.kind in kinds and s.direction == "inbound":
            by_time.setdefault(s.at_ms, []).append(s)
    times = sorted(by_time)
    series: list[tuple[float, float]] = []
    for before, after in itertools.pairwise(times):
        first = {s.stream_id: s for s in by_time[before]}
        kbps = sum(bitrate_kbps(first[s.stream_id], s) for s in by_time[after] if s.stream_id in first)
        series.append((after, kbps))
    return series


def _rounded(key: str, value: Any) -> Any:
    return round(value, 3 if key in ("wer", "adapt_s") else 1) if isinstance(value, float) else value


def result(
    server: str,
    scenario: str,
    leg: str,
    received: dict[str, Any] | None,
    sent: dict[str, Any] | None,
    *,
    step: tuple[float, float, float] | None = None,
    wer: float | None = None,
) -> dict[str, Any]:
    """The result record. ``received``/``sent``: a page's ``lab.result()`` (one page may be both);
    ``step``: (seconds after the start of collection, new capacity kbit/s, seconds until the next
    change) for ``adapt_s``, over the readings until that next change."""
    rx = samples_of(received)
    got = summarise(
        rx,
        render_ms=(received or {}).get("renderMs"),
        e2e_delays_ms=(received or {}).get("e2eDelaysMs") or [],
        wer=wer,
    )
    record: dict[str, Any] = {"server": server, "scenario": scenario, "leg": leg}
    record.update(msgspec.to_builtins(got))
    if sent is not None and sent is not received:
        tx = summarise(samples_of(sent))
        for key in SENT:
            record[key] = getattr(tx, key)
    series = recv_series(rx)
    if series:  # the received video's bitrate over the run's last 5 s, once any ramp-up is over
        end = series[-1][0]
        tail = [kbps for at, kbps in series if at > end - END_MS]
        record["recv_kbps_end"] = sum(tail) / len(tail)
    record["adapt_s"] = None
    if step is not None and rx:
        start = min(s.at_ms for s in rx)
        until = start + step[2] * 1000
        # The capacity carries audio too: adapting is video and audio together reaching it.
        window = [(at, kbps) for at, kbps in recv_series(rx, ("video", "audio")) if at <= until]
        record["adapt_s"] = time_to_adapt_s(window, start + step[0] * 1000, step[1])
        render = (received or {}).get("renderMs")
        if render is not None:  # the freezes between the step and the next change
            frames = [t for t in render if start + step[0] * 1000 <= t <= until]
            record["adapt_freeze_ms"] = render_gap_freezes(frames).total_ms
    record["unread_stamps"] = (received or {}).get("unreadStamps")
    ordered = {key: record.get(key) for key in FIELDS}
    ordered.update({k: v for k, v in record.items() if k not in ordered})
    return {k: _rounded(k, v) for k, v in ordered.items()}


COLUMNS = (
    ("server", "server"),
    ("scenario", "scenario"),
    ("leg", "leg"),
    ("send_kbps", "send kb/s"),
    ("recv_kbps", "recv kb/s"),
    ("recv_media_kbps", "media kb/s"),
    ("recv_kbps_end", "last 5 s"),
    ("width", "w"),
    ("height", "h"),
    ("fps", "fps"),
    ("freeze_count", "freezes"),
    ("freeze_ms", "freeze ms"),
    ("audio_concealed_pct", "conceal %"),
    ("e2e_delay_ms_p50", "e2e p50"),
    ("e2e_delay_ms_p95", "e2e p95"),
    ("adapt_s", "adapt s"),
    ("quality_limitation_reason", "limited by"),
)


def table(results: Sequence[dict[str, Any]]) -> str:
    """The results as a fixed-width table (None shows as '-')."""
    rows = [[label for _, label in COLUMNS]]
    for r in results:
        rows.append(["-" if r.get(key) is None else str(r.get(key)) for key, _ in COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            cell.rjust(w) if i > 2 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
