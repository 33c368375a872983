"""Sentence chunking: cut a stream of LLM deltas into pieces TTS can start speaking early.

:class:`SentenceChunker` is pure (feed text, get sentences). It cuts after ``.``, ``!``, ``?``,
``;``, ``:``, CJK full stops and newlines when followed by whitespace (or, for CJK, at once),
never inside a number such as ``3.14`` or after a short abbreviation (``Dr.``, ``e.g.``). The
first sentence of a turn may also be cut at a comma once it is long enough, so the agent starts
talking sooner; later pieces are cut at ``max_chars`` on a word boundary if no punctuation comes.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no", "fig"})
_CJK_END = "\u3002\uff01\uff1f\uff1b"  # CJK full stop, exclamation, question mark, semicolon
_END = ".!?;:"


class SentenceChunker:
    def __init__(self, *, max_chars: int = 200, first_comma_chars: int = 40) -> None:
        self.max_chars = max_chars
        self.first_comma_chars = first_comma_chars
        self._buf = ""
        self._emitted = 0

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            piece, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
            if piece:
                out.append(piece)
                self._emitted += 1
        return out

    def flush(self) -> list[str]:
        piece, self._buf = self._buf.strip(), ""
        self._emitted = 0
        return [piece] if piece else []

    def _find_cut(self) -> int | None:
        buf = self._buf
        for i, ch in enumerate(buf):
            if ch in _CJK_END or ch == "\n":
                return i + 1
            if ch in _END and i + 1 < len(buf) and buf[i + 1].isspace() and not self._abbreviation(buf, i):
                return i + 1
            if (
                ch == ","
                and self._emitted == 0
                and i >= self.first_comma_chars
                and i + 1 < len(buf)
                and buf[i + 1].isspace()
            ):
                return i + 1
        if len(buf) > self.max_chars:
            space = buf.rfind(" ", 0, self.max_chars)
            return space if space > 0 else self.max_chars
        return None

    @staticmethod
    def _abbreviation(buf: str, i: int) -> bool:
        if buf[i] != ".":
            return False
        word = re.split(r"\s", buf[:i])[-1].lower()
        return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())
