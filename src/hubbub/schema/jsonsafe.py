"""JSON from outside the process, decoded within bounds of size and nesting depth.

A JSON decoder recurses once per level of nesting: a 2 KB document of 1,000 nested arrays
exhausts the interpreter's recursion limit (``RecursionError``), which is not a decode error
and escapes the handlers that expect one. Every decoder of untrusted JSON (client frames, REST
bodies, answers from webhook receivers and model endpoints, configuration files) first calls
:func:`check`, which measures the depth without recursion in time linear in the document's
length, so the decoder only ever sees documents it can handle.

The depth check costs two ``count`` calls for the usual document, whose brackets are fewer than
the limit; only a document with more brackets than that gets a full scan, vectorised with numpy
(about 3-15 ns a byte).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

MAX_DEPTH = 64
"""Nesting levels allowed in a document by default: the top-level object or array is level 1."""

_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_TOKEN = re.compile(_STRING + r"|[\[\]{}:,]", re.DOTALL)

Problem = Literal["too_large", "too_deep", "invalid"]


class JsonError(ValueError):
    """A document that was refused; the sender's fault. ``problem`` says which way it failed."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def depth_exceeds(data: str | bytes, max_depth: int = MAX_DEPTH) -> bool:
    """True when ``data`` nests objects and arrays deeper than ``max_depth`` levels.

    Brackets inside strings do not count. Never recurses; linear in ``len(data)``.
    """
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= max_depth:
            return False
        raw = data.encode("utf-8", errors="surrogatepass")
    else:
        if data.count(b"[") + data.count(b"{") <= max_depth:
            return False
        raw = data
    return _max_depth(raw) > max_depth


def _max_depth(raw: bytes) -> int:
    """The deepest nesting of objects and arrays in ``raw``, brackets in strings left out.

    Vectorised: a quote opens or closes a string unless an odd run of backslashes precedes it;
    the depth is the maximum of a prefix sum of +1 (``[`` ``{``) and -1 (``]`` ``}``) outside strings.
    UTF-8 continuation bytes are never ASCII, so bytes are as good as characters here.
    """
    import numpy as np  # only documents with many brackets get here: keeps the import off the common path

    b = np.frombuffer(raw, dtype=np.uint8)
    index = np.arange(b.size, dtype=np.int32)
    not_backslash = b != 0x5C
    # position of the last byte that is not a backslash, at or before each position
    last_plain = np.maximum.accumulate(np.where(not_backslash, index, -1))
    run_before = np.empty_like(index)  # backslashes immediately before each position
    run_before[0] = 0
    run_before[1:] = index[:-1] - last_plain[:-1]
    quotes = (b == 0x22) & (run_before % 2 == 0)
    inside = (np.cumsum(quotes, dtype=np.int32) % 2 == 1) & ~quotes  # within a string (quotes excluded)
    steps = _step_table(np)[b]
    steps[inside] = 0
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


_STEPS: Any = None


def _step_table(np: Any) -> Any:
    """+1 for an opening bracket, -1 for a closing one, 0 for any other byte."""
    global _STEPS
    if _STEPS is None:
        table = np.zeros(256, dtype=np.int32)
        table[[0x5B, 0x7B]] = 1
        table[[0x5D, 0x7D]] = -1
        _STEPS = table
    return _STEPS


def check(data: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None, what: str = "JSON") -> None:
    """Raise :class:`JsonError` when ``data`` is over ``max_bytes`` or nests deeper than ``max_depth``.

    ``what`` names the document in the message (``"frame"``, ``"the webhook receiver's answer"``).
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonError("too_large", f"{what} is larger than {max_bytes} bytes")
    if depth_exceeds(data, max_depth):
        raise JsonError("too_deep", f"{what} nests deeper than {max_depth} levels")


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None, what: str = "JSON") -> Any:
    """Decode one untrusted JSON document within bounds; :class:`JsonError` says why not."""
    check(data, max_depth=max_depth, max_bytes=max_bytes, what=what)
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:  # RecursionError: a caller already deep in its stack
        raise JsonError("invalid", f"{what} is not valid JSON: {exc}") from None


def top_level_string(data: str | bytes, key: str, *, max_len: int = 64, max_tokens: int = 256) -> str | None:
    """The string value of ``key`` in a top-level object, found by a bounded scan, or None.

    For a document that failed to decode (too deep, malformed): the scan reads at most
    ``max_tokens`` strings and punctuation marks from the start and never decodes a nested value.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    wanted = f'"{key}"'
    depth = 0
    stage = 0  # 1: the key was read at depth 1; 2: then its colon
    for count, token in enumerate(_TOKEN.finditer(data)):
        if count >= max_tokens:
            return None
        text = token.group()
        if stage == 2:
            if text[0] == '"' and len(text) <= max_len * 12 + 2:  # an astral character escapes to 12
                try:
                    value = msgspec.json.decode(text)
                except msgspec.DecodeError:
                    return None
                return value if isinstance(value, str) and len(value) <= max_len else None
            stage = 0
        elif stage == 1:
            stage = 2 if text == ":" else 0
        elif text == wanted and depth == 1:
            stage = 1
        if text in ("{", "["):
            depth += 1
        elif text in ("}", "]"):
            depth -= 1
    return None
