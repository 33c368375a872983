"""Does an LLM make sense as a voice assistant? Twenty simple questions, scored, with latency.

Each question of ``questions.json`` is asked in a fresh conversation (the agent's system prompt,
then the question) through the same provider interface an agent uses. An answer is **correct**
when it holds the expected fact (one of ``expect``, as whole words, any case), is in English and is
short enough to speak (at most :data:`MAX_WORDS` words, about 12 s at 150 words a minute). Latency
is measured from the request to the first token and to the end of the answer.

    hubbub agent eval-llm                                   # the embedded default (llama)
    hubbub agent eval-llm --llm-url http://127.0.0.1:11434/v1 --llm-model llama3.2

The English check is a heuristic (ASCII letters, and no more French, Spanish, German or Italian
function words than half the English ones); it catches "La capitale de la France est Paris".
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hubbub.agents.providers.base import LLM, ChatMessage, LlmOptions, ProviderError

MAX_WORDS = 30
DEFAULT_SYSTEM_PROMPT = "You are a friendly voice assistant. Answer in one or two short sentences."  # the agent's

_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
_ENGLISH = frozenset(
    {
        *("the", "a", "an", "is", "are", "was", "were", "of", "in", "on", "at", "and", "or", "to", "it"),
        *("its", "it's", "this", "that", "what", "which", "who", "with", "for", "be", "you", "your", "i"),
        *("we", "they", "there", "has", "have", "do", "does", "not", "no", "yes"),
    }
)
_FOREIGN = frozenset(  # function words that are not also English words ("die", "son" and "con" are)
    {
        *("le", "la", "les", "est", "sont", "des", "du", "une", "et", "il", "elle", "c'est", "je", "vous"),  # French
        *("el", "los", "las", "es", "una", "y", "del", "que", "por"),  # Spanish
        *("der", "das", "und", "ist", "ein", "eine", "nicht", "ich", "sie"),  # German
        *("è", "di", "della", "gli", "sono"),  # Italian
    }
)


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    expect: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Score:
    fact: bool
    english: bool
    short: bool
    words: int

    @property
    def correct(self) -> bool:
        return self.fact and self.english and self.short


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    question: str
    answer: str
    fact: bool
    english: bool
    short: bool
    correct: bool
    words: int
    first_token_ms: float | None
    answer_ms: float
    error: str = ""


def load_questions(path: str | Path | None = None) -> list[Question]:
    """The committed question set, or another file of the same shape."""
    if path is None:
        text = resources.files(__package__).joinpath("questions.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    data = json.loads(text)
    return [Question(q["id"], q["text"], tuple(q["expect"])) for q in data["questions"]]


def is_english(answer: str) -> bool:
    letters = [c for c in answer if c.isalpha()]
    if not letters:
        return False
    if sum(c.isascii() for c in letters) < 0.9 * len(letters):
        return False
    words = [w.lower() for w in _WORD.findall(answer)]
    english = sum(w in _ENGLISH for w in words)
    foreign = sum(w in _FOREIGN for w in words)
    return foreign == 0 or foreign * 2 < english


def has_fact(answer: str, expect: Sequence[str]) -> bool:
    text = answer.lower()
    # Whole words: "ice" is not found in "ice-free", nor "4" in "14".
    return any(re.search(rf"(?<![\w-]){re.escape(alt.lower())}(?![\w-])", text) for alt in expect)


def score(answer: str, expect: Sequence[str]) -> Score:
    words = len(_WORD.findall(answer))
    return Score(has_fact(answer, expect), is_english(answer), 0 < words <= MAX_WORDS, words)


async def ask(llm: LLM, question: Question, *, system_prompt: str, options: LlmOptions) -> Answer:
    messages = [ChatMessage("system", system_prompt)] if system_prompt else []
    messages.append(ChatMessage("user", question.text))
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    error = ""
    try:
        async for delta in llm.chat(messages, options):
            if first is None:
                first = time.perf_counter()
            parts.append(delta)
    except ProviderError as exc:
        error = str(exc)
    ended = time.perf_counter()
    text = " ".join("".join(parts).split())
    s = score(text, question.expect)
    return Answer(
        question.id,
        question.text,
        text,
        s.fact,
        s.english,
        s.short,
        s.correct and not error,
        s.words,
        None if first is None else round((first - started) * 1000, 1),
        round((ended - started) * 1000, 1),
        error,
    )


def _redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k == "api_key" else v) for k, v in config.items()}


async def evaluate(
    llm: LLM,
    questions: Sequence[Question],
    *,
    llm_config: Mapping[str, Any] | None = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    temperature: float = 0.7,
    max_tokens: int = 256,
) -> dict[str, Any]:
    """Ask every question one after the other; a JSON-ready report with totals and every answer."""
    options = LlmOptions(temperature=temperature, max_tokens=max_tokens)
    load_ms = None
    preload = getattr(llm, "preload", None)  # a local model loads before the first question, not during it
    if callable(preload):
        started = time.perf_counter()
        await asyncio.to_thread(preload)
        load_ms = round((time.perf_counter() - started) * 1000, 1)
    answers = [await ask(llm, q, system_prompt=system_prompt, options=options) for q in questions]
    firsts = [a.first_token_ms for a in answers if a.first_token_ms is not None]
    totals = [a.answer_ms for a in answers]

    def count(attr: str) -> int:
        return sum(bool(getattr(a, attr)) for a in answers)

    return {
        "llm": _redacted(llm_config or {"name": llm.name}),
        "system_prompt": system_prompt,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "load_ms": load_ms,
        "questions": len(answers),
        "correct": count("correct"),
        "has_fact": count("fact"),
        "english": count("english"),
        "short": count("short"),
        "errors": count("error"),
        "first_token_ms_p50": round(statistics.median(firsts), 1) if firsts else None,
        "answer_ms_p50": round(statistics.median(totals), 1) if totals else None,
        "answer_ms_max": max(totals) if totals else None,
        "words_p50": statistics.median(a.words for a in answers) if answers else None,
        "answers": [asdict(a) for a in answers],
    }
