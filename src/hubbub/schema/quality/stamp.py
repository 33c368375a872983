"""The time stamp drawn into sent video, so end-to-end delay is measured, not estimated.

The sender draws the time of capture (ms, 32 bits: a clock both ends share, e.g. the Unix time in
ms mod 2**32) into each frame as square black and white cells; the receiver reads it back when the
frame is rendered, and the delay is render time - stamp (:func:`stamp_delay_ms`).

Layout (this module is the one definition; the pixel work is in :mod:`hubbub.sdk.quality` and the
Web SDK's ``quality.js``):

- :data:`STAMP_ROWS` rows of :data:`STAMP_COLS` cells, at the bottom left of the frame; a cell is
  ``max(4, width // 16)`` pixels square (20 px at 320x180: whole VP8 macroblocks survive low
  bitrates), so a receiver that gets a scaled-down layer finds the same cells at its own size;
- cells in reading order (row by row, left to right), 1 = white (luma 235), 0 = black (luma 16):
  the sync pattern :data:`SYNC` (6 cells; the reader calibrates its threshold on them), the 32-bit
  value most significant bit first, its CRC-8 (polynomial 0x07, over the value's 4 bytes, big
  endian), then the trailer :data:`TRAILER`;
- a reader samples the middle half of each cell (compression rings at block edges), needs at least
  48 levels between the sync's white and black, and rejects a frame whose sync, trailer or CRC-8
  does not match: a stamp is read exactly or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "STAMP_BITS",
    "STAMP_CELLS",
    "STAMP_COLS",
    "STAMP_ROWS",
    "SYNC",
    "TRAILER",
    "crc8",
    "decode_stamp_levels",
    "stamp_bits",
    "stamp_cell_size",
    "stamp_delay_ms",
    "stamp_rects",
    "stamp_value",
]

STAMP_COLS = 16
STAMP_ROWS = 3
STAMP_BITS = 32
SYNC = (1, 0, 1, 1, 0, 0)
TRAILER = (0, 1)
STAMP_CELLS = STAMP_COLS * STAMP_ROWS
assert len(SYNC) + STAMP_BITS + 8 + len(TRAILER) == STAMP_CELLS

WHITE = 235
BLACK = 16
MIN_CONTRAST = 48
_MOD = 1 << STAMP_BITS


def crc8(data: bytes) -> int:
    """CRC-8 with polynomial x^8 + x^2 + x + 1 (0x07), initial value 0, no reflection."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def stamp_value(now_ms: float) -> int:
    """The 32-bit value stamped at time ``now_ms``: its whole milliseconds mod 2**32."""
    return int(now_ms) % _MOD


def stamp_bits(value: int) -> tuple[int, ...]:
    """The :data:`STAMP_CELLS` cells (1 white, 0 black) that carry ``value`` (mod 2**32)."""
    value %= _MOD
    data = tuple((value >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS))
    check = crc8(value.to_bytes(4, "big"))
    return (*SYNC, *data, *((check >> (7 - i)) & 1 for i in range(8)), *TRAILER)


def stamp_cell_size(width: int) -> int:
    """A cell's side in pixels for a frame ``width`` pixels wide."""
    return max(4, width // STAMP_COLS)


def stamp_rects(width: int, height: int) -> list[tuple[int, int, int]]:
    """``(x, y, side)`` of each cell, in reading order; empty when the frame is too small for it."""
    cell = stamp_cell_size(width)
    top = height - STAMP_ROWS * cell
    if top < 0 or cell * STAMP_COLS > width:
        return []
    return [(col * cell, top + row * cell, cell) for row in range(STAMP_ROWS) for col in range(STAMP_COLS)]


def decode_stamp_levels(levels: Sequence[float]) -> int | None:
    """The value carried by the cells' mean luma levels (reading order), or None when unreadable."""
    if len(levels) != STAMP_CELLS:
        return None
    whites = [level for level, bit in zip(levels, SYNC, strict=False) if bit]
    blacks = [level for level, bit in zip(levels, SYNC, strict=False) if not bit]
    white, black = sum(whites) / len(whites), sum(blacks) / len(blacks)
    if white - black < MIN_CONTRAST:
        return None
    threshold = (white + black) / 2
    bits = [1 if level > threshold else 0 for level in levels]
    if tuple(bits[: len(SYNC)]) != SYNC or tuple(bits[-len(TRAILER) :]) != TRAILER:
        return None
    value = 0
    for bit in bits[len(SYNC) : len(SYNC) + STAMP_BITS]:
        value = (value << 1) | bit
    check = 0
    for bit in bits[len(SYNC) + STAMP_BITS : len(SYNC) + STAMP_BITS + 8]:
        check = (check << 1) | bit
    return value if check == crc8(value.to_bytes(4, "big")) else None


def stamp_delay_ms(stamp: int, now_ms: float) -> float:
    """Delay (ms) from a frame stamped ``stamp`` to ``now_ms``, across the 2**32 wrap (signed)."""
    delta = (now_ms - stamp) % _MOD
    return float(delta - _MOD if delta >= _MOD / 2 else delta)
