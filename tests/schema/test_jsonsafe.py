"""The bounded JSON decoder: its depth measure agrees with a real decoder on any document."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.schema import jsonsafe

tricky_text = st.text(alphabet='[]{}"\\:,ab\n\u00e9\U0001f600', max_size=12)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=60,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@settings(max_examples=300)
@given(value=values, limit=st.integers(0, 8), ascii_only=st.booleans(), as_bytes=st.booleans())
def test_depth_exceeds_agrees_with_the_decoded_depth(value: Any, limit: int, ascii_only: bool, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    doc: str | bytes = text.encode() if as_bytes else text
    assert jsonsafe.depth_exceeds(doc, limit) == (depth(value) > limit)


@given(levels=st.integers(1, 20_000), kind=st.sampled_from(["[", "{"]))
def test_deep_documents_are_refused_without_recursing(levels: int, kind: str) -> None:
    doc = ('{"k":' * levels + "1" + "}" * levels) if kind == "{" else ("[" * levels + "]" * levels)
    if levels > jsonsafe.MAX_DEPTH:
        with pytest.raises(jsonsafe.JsonError) as refused:
            jsonsafe.loads(doc)
        assert refused.value.problem == "too_deep"
    else:
        assert depth(jsonsafe.loads(doc)) == levels


def test_a_document_the_stdlib_cannot_decode_is_a_clear_error() -> None:
    doc = "[" * (sys.getrecursionlimit() * 2) + "]" * (sys.getrecursionlimit() * 2)
    with pytest.raises(RecursionError):
        json.loads(doc)
    with pytest.raises(jsonsafe.JsonError, match="nests deeper than 64 levels"):
        jsonsafe.loads(doc, what="the frame")
    with pytest.raises(jsonsafe.JsonError, match="larger than 10 bytes"):
        jsonsafe.loads(b"[1,2,3,4,5,6]", max_bytes=10)
    with pytest.raises(jsonsafe.JsonError) as bad:
        jsonsafe.loads("{nope")
    assert bad.value.problem == "invalid"


@given(rid=st.text(max_size=70), junk=st.sampled_from(["[" * 5000, '{"a":' * 3000, "{nope", '"x"']))
def test_the_request_id_of_an_undecodable_frame_is_found(rid: str, junk: str) -> None:
    doc = '{"type":"ping","id":' + json.dumps(rid) + ',"x":' + junk
    expected = rid if len(rid) <= 64 else None
    assert jsonsafe.top_level_string(doc, "id") == expected
    assert jsonsafe.top_level_string('{"x":{"id":"inner"},"y":1}', "id") is None
