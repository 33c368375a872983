"""Speech intelligibility: the word error rate (WER) of recognised text against the text spoken.

Both texts are normalised first (:func:`normalise_words`): lower case; thousands separators dropped
(``1,200`` -> ``1200``); numbers as spoken (``42`` -> ``forty two``, ``3.5`` -> ``three point
five``, ``-7`` -> ``minus seven``, ``%`` -> ``percent``); apostrophes dropped inside words
(``don't`` -> ``dont``, so a recogniser's and a speaker's spelling agree); every other character that
is not a letter or a digit is a word break. The WER is the word-level Levenshtein distance
(substitutions + deletions + insertions) divided by the number of reference words: 0.0 is perfect,
it can exceed 1.0 when the recogniser adds words; an empty reference gives 0.0 for an empty
hypothesis and 1.0 otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["levenshtein", "normalise_words", "number_words", "word_error_rate"]

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_NUMBER = re.compile(r"(?<![\w.])(-?)(\d+)(?:\.(\d+))?")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019](?=\w)")
_BREAK = re.compile(r"[^a-z0-9]+")


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def number_words(n: int) -> list[str]:
    """A whole number as spoken, one word each: ``1905`` -> one thousand nine hundred five."""
    if n < 0:
        return ["minus", *number_words(-n)]
    if n >= 10**15:
        return [_ONES[int(d)] for d in str(n)]
    words: list[str] = []
    for scale, name in _SCALES:
        if n >= scale:
            words += [*_below_thousand(n // scale), name]
            n %= scale
    if n or not words:
        words += _below_thousand(n)
    return words


def _spoken(match: re.Match[str]) -> str:
    sign, whole, fraction = match.group(1), match.group(2), match.group(3)
    words = (["minus"] if sign else []) + number_words(int(whole))
    if fraction:
        words += ["point", *(_ONES[int(d)] for d in fraction)]
    return " " + " ".join(words) + " "


def normalise_words(text: str) -> list[str]:
    """The words of ``text`` after the normalisation in this module's docstring."""
    text = _THOUSANDS.sub("", text.lower()).replace("%", " percent ")
    text = _NUMBER.sub(_spoken, text)
    text = _APOSTROPHE.sub("", text)
    return [word for word in _BREAK.split(text) if word]


def levenshtein(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` (recognised) against ``reference`` (spoken), both normalised."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(ref, hyp) / len(ref)
