"""The spoken-assistant LLM evaluation: its question set, its scoring and ``hubbub agent eval-llm``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest

from hubbub.agents.eval import llm as evaluation
from hubbub.cli import main as cli_main


def test_the_committed_question_set_is_twenty_distinct_questions_with_facts() -> None:
    questions = evaluation.load_questions()
    assert len(questions) == 20
    assert len({q.id for q in questions}) == 20 and len({q.text for q in questions}) == 20
    assert all(q.text.endswith("?") and q.expect and all(e.strip() for e in q.expect) for q in questions)


@pytest.mark.parametrize(
    ("answer", "expect", "fact", "english", "short"),
    [
        ("The capital of France is Paris.", ["Paris"], True, True, True),
        ("Paris.", ["Paris"], True, True, True),
        ("La capitale de la France est Paris.", ["Paris"], True, False, True),
        ('Il y aime le capisce: "Paris" (The City of Light) in Italian.', ["Paris"], True, False, True),
        ("Two plus two is fourteen.", ["4", "four"], False, True, True),
        ("It is 14.", ["4", "four"], False, True, True),
        ("Two plus two is 4.", ["4", "four"], True, True, True),
        ("It is called ice-free water.", ["ice"], False, True, True),
        ("There are twenty-four hours in a day.", ["24", "twenty-four"], True, True, True),
        ("東京です。", ["Tokyo"], False, False, True),
        (" ".join(["Paris"] * 31), ["Paris"], True, True, False),
        ("", ["Paris"], False, False, False),
    ],
)
def test_scoring(answer: str, expect: list[str], fact: bool, english: bool, short: bool) -> None:
    s = evaluation.score(answer, expect)
    assert (s.fact, s.english, s.short) == (fact, english, short)
    assert s.correct == (fact and english and short)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert cli_main(["agent", "eval-llm", *argv]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_eval_cli_scores_a_scripted_llm(capsys: pytest.CaptureFixture[str]) -> None:
    replies = ["The capital of France is Paris.", "Le deux plus deux est quatre, c'est la vie.", "A week."]
    llm = json.dumps({"name": "scripted", "replies": replies, "first_token_s": 0.01, "tokens_per_s": 2000})
    result = _run(capsys, "--llm", llm, "--limit", "3")
    assert result["questions"] == 3 and result["correct"] == 1
    assert [a["correct"] for a in result["answers"]] == [True, False, False]
    assert [a["english"] for a in result["answers"]] == [True, False, True]
    assert result["has_fact"] == 1 and result["errors"] == 0
    assert 5 <= result["first_token_ms_p50"] < 1000 and result["answer_ms_p50"] >= result["first_token_ms_p50"]


class _Endpoint(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible /chat/completions that streams 'It is <question>.'."""

    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.seen.append({"path": self.path, "auth": self.headers.get("authorization"), "body": body})
        question = body["messages"][-1]["content"]
        answer = {"What is the capital of France?": "Paris.", "What is two plus two?": "Four."}.get(question, "?")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for delta, finish in ((f"It is {answer[:-1]}", None), (".", "stop")):
            chunk = {"choices": [{"delta": {"content": delta}, "finish_reason": finish}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Endpoint.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_eval_cli_against_an_openai_compatible_endpoint(
    endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVAL_KEY", "sk-test-123")
    result = _run(capsys, "--llm-url", endpoint, "--llm-model", "tiny", "--llm-api-key-env", "EVAL_KEY", "--limit", "2")
    assert result["llm"] == {"name": "openai", "base_url": endpoint, "model": "tiny", "api_key_env": "EVAL_KEY"}
    assert [a["answer"] for a in result["answers"]] == ["It is Paris.", "It is Four."]
    assert result["correct"] == 2
    first = _Endpoint.seen[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test-123"
    assert first["body"]["model"] == "tiny" and first["body"]["messages"][0]["role"] == "system"


def test_eval_cli_names_the_fix_when_the_llm_cannot_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    assert cli_main(["agent", "eval-llm", "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("is not available here") == 1 and "--llm-url" in err and "OpenAI-compatible" in err
