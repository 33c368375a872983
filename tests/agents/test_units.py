"""The sans-I/O parts: sentence chunker, turn detector, interruption policy, config, conversation."""

from __future__ import annotations

import pytest

from hubbub.agents.chunker import SentenceChunker
from hubbub.agents.config import AgentConfigError, parse_config
from hubbub.agents.interruption import InterruptionPolicy
from hubbub.agents.transcripts import Conversation
from hubbub.agents.turn import SpeechEnded, SpeechStarted, TurnDetector


def test_chunker_cuts_sentences_not_numbers_or_abbreviations() -> None:
    c = SentenceChunker()
    out: list[str] = []
    for piece in ["Dr. Smith", " paid 3.5 euros. Then", " he left! Did", " he? Yes"]:
        out += c.feed(piece)
    assert out == ["Dr. Smith paid 3.5 euros.", "Then he left!", "Did he?"]
    assert c.flush() == ["Yes"]


def test_chunker_cuts_a_long_first_sentence_at_a_comma_and_long_text_at_a_word() -> None:
    c = SentenceChunker(max_chars=30, first_comma_chars=10)
    assert c.feed("Well, in the first place, we ") == ["Well, in the first place,"]
    assert c.feed("need some words that go on and on") == ["we need some words that go on"]
    assert SentenceChunker().feed("你好。今天") == ["你好。"]


def test_turn_detector_start_silence_and_max_length() -> None:
    d = TurnDetector(start_ms=60, silence_ms=200, max_turn_s=1.0)
    events = []
    t = 0.0
    for voiced in [False] * 3 + [True] * 10 + [False] * 12:
        t += 0.02
        events.append((round(t, 2), d.feed(voiced, t, 0.02)))
    happened = [(t, e) for t, e in events if e is not None]
    assert happened[0][0] == 0.12 and isinstance(happened[0][1], SpeechStarted)
    assert happened[0][1].t == pytest.approx(0.06)
    assert isinstance(happened[1][1], SpeechEnded)
    assert happened[1][1].speech_end_t == pytest.approx(0.26)
    assert happened[1][0] == pytest.approx(0.46)
    d2 = TurnDetector(start_ms=20, silence_ms=200, max_turn_s=0.5)
    ends = [d2.feed(True, i * 0.02, 0.02) for i in range(1, 40)]
    assert any(isinstance(e, SpeechEnded) and e.forced for e in ends)


def test_interruption_needs_min_speech_while_busy() -> None:
    p = InterruptionPolicy("speech", min_speech_ms=160)
    fired = [p.on_vad(True, i * 0.02, 0.02, agent_busy=True) for i in range(1, 12)]
    assert fired.index(True) == 7  # the 8th 20 ms frame: 160 ms
    assert fired.count(True) == 1
    idle = InterruptionPolicy("speech", min_speech_ms=160)
    assert not any(idle.on_vad(True, i * 0.02, 0.02, agent_busy=False) for i in range(1, 20))
    short = InterruptionPolicy("speech", min_speech_ms=160)
    pattern = ([True] * 4 + [False] * 10) * 3  # 80 ms bursts with long gaps: coughs, not speech
    assert not any(short.on_vad(v, i * 0.02, 0.02, True) for i, v in enumerate(pattern, 1))


def test_keyword_and_off_modes() -> None:
    k = InterruptionPolicy("keywords", keywords=["stop", "wait a moment"])
    assert not any(k.on_vad(True, i * 0.02, 0.02, True) for i in range(1, 30))
    assert k.on_transcript("Please STOP now", agent_busy=True)
    assert k.on_transcript("wait a moment please", agent_busy=True)
    assert not k.on_transcript("unstoppable", agent_busy=True)
    assert not k.on_transcript("stop", agent_busy=False)
    off = InterruptionPolicy("off")
    assert not any(off.on_vad(True, i * 0.02, 0.02, True) for i in range(1, 30))


def test_conversation_keeps_only_what_was_spoken() -> None:
    c = Conversation()
    c.add_user("tell me a story")
    c.begin_assistant(1)
    c.generated(1, "Once upon a time there was a fox. It ran far away.")
    c.spoken(1, "Once upon a time")
    assert c.finish(1, interrupted=True) == "Once upon a time"
    assert [(m.role, m.content) for m in c.messages("sys")] == [
        ("system", "sys"),
        ("user", "tell me a story"),
        ("assistant", "Once upon a time"),
    ]
    assert c.history()[-1]["interrupted"] is True


def test_config_errors_name_the_field() -> None:
    with pytest.raises(AgentConfigError) as err:
        parse_config({"channel": "", "interruption": {"mode": "loud"}, "turn": {"silence_ms": 5}, "bogus": 1})
    fields = {e["field"] for e in err.value.errors}
    assert {"channel", "interruption.mode", "turn.silence_ms", "bogus"} <= fields
    with pytest.raises(AgentConfigError, match="needs at least one keyword"):
        parse_config({"channel": "a", "interruption": {"mode": "keywords"}})
    with pytest.raises(AgentConfigError, match="cannot listen to itself"):
        parse_config({"channel": "a", "identity": "bot", "listen_to": ["bot"]})
    cfg = parse_config({"channel": "a", "providers": {"llm": {"name": "scripted", "first_token_s": 0.1}}})
    assert cfg.providers.llm.options == {"first_token_s": 0.1}
