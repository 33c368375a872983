"""The frame codec of both WebSocket protocols, fed untrusted bytes: every input decodes or is
refused with that protocol's error and a stable code; nothing else escapes. Valid messages survive
a round trip, and each refusal comes in the order and with the words the protocols promise."""

from __future__ import annotations

import json
import typing
from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.schema import frames, jsonsafe
from hubbub.schema import messaging as rtm
from hubbub.schema import signaling as sig

PROTOCOLS = [sig, rtm]
KEYS = ["type", "id", "t", "token", "channel", "sdp", "text", "data", "seq", "target", "candidate", "cid", "kind"]
TYPES = [*sorted(frames.tags(sig.ClientMessage) | rtm.KNOWN_CLIENT_TYPES), "teleport", "", "rtm_", "x" * 300, "\u00e9"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=70)
    | st.sampled_from(TYPES)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=20,
)
objects = st.lists(st.tuples(st.sampled_from(KEYS), values), max_size=6).map(
    lambda pairs: "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"  # duplicate keys too
)
documents = st.one_of(
    objects,
    objects.map(lambda doc: doc[: len(doc) // 2]),  # cut short
    st.integers(1, 3_000).map(lambda n: '{"type":"ping","id":"r","t":1,"x":' + "[" * n + "]" * n + "}"),
    st.text(max_size=80),
    st.binary(max_size=80),
)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


def _value(tp: Any) -> st.SearchStrategy[Any]:
    """Any value of a schema type: structs with some of their optional fields, JSON for ``Any``."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        fields = msgspec.structs.fields(tp)
        required = {f.name: _value(f.type) for f in fields if f.required}
        optional = {f.name: _value(f.type) for f in fields if not f.required and f.name != "id"}
        if any(f.name == "id" and not f.required for f in fields):  # a request id
            optional["id"] = st.none() | st.text(max_size=frames.MAX_REQUEST_ID)
        return st.fixed_dictionaries(required, optional=optional).map(lambda kw: tp(**kw))
    if tp is Any:
        return json_values
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return st.lists(_value(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(_value(args[0]), _value(args[1]), max_size=3)
    if args:  # a union
        return st.one_of([_value(arg) for arg in args])
    return st.from_type(tp)


@settings(max_examples=400, deadline=None)
@given(doc=documents, as_bytes=st.booleans(), protocol=st.sampled_from(PROTOCOLS))
def test_any_input_decodes_or_is_refused_with_a_code(doc: str | bytes, as_bytes: bool, protocol: ModuleType) -> None:
    if isinstance(doc, str) and as_bytes:
        doc = doc.encode("utf-8", errors="surrogatepass")
    try:
        message = protocol.decode_client(doc)
    except protocol.ProtocolError as exc:
        assert exc.code in set(protocol.ErrorCode)
        assert exc.message and exc.code != protocol.ErrorCode.server_error
        assert exc.request_id is None or len(exc.request_id) <= frames.MAX_REQUEST_ID
    else:
        assert isinstance(message, typing.get_args(protocol.ClientMessage))
        assert message.id is None or len(message.id) <= frames.MAX_REQUEST_ID
        assert protocol.decode_client(protocol.encode(message)) == message
    try:
        protocol.decode_server(doc)
    except protocol.ProtocolError as exc:
        assert exc.code == protocol.ErrorCode.invalid_message


@settings(max_examples=150, deadline=None)
@given(data=st.data(), protocol=st.sampled_from(PROTOCOLS))
def test_every_message_survives_a_round_trip(data: st.DataObject, protocol: ModuleType) -> None:
    client = data.draw(_value(protocol.ClientMessage))
    wire = protocol.encode(client)
    assert protocol.encode(protocol.decode_client(wire)) == wire
    server = data.draw(_value(protocol.ServerMessage))
    wire = protocol.encode(server)
    assert protocol.encode(protocol.decode_server(wire)) == wire


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_refusals_come_in_order_with_their_words(protocol: ModuleType) -> None:
    E = protocol.ErrorCode

    def refusal(doc: str | bytes) -> tuple[str, str, str | None]:
        with pytest.raises(protocol.ProtocolError) as refused:
            protocol.decode_client(doc)
        return refused.value.code, refused.value.message, refused.value.request_id

    limit = protocol.MAX_FRAME_BYTES
    deep = "[" * 100 + "]" * 100
    assert refusal('{"id":"big","type":"ping","t":1,"x":"' + "a" * limit + '"}') == (
        E.frame_too_large,
        f"frames are limited to {limit} bytes",
        "big",
    )
    assert refusal(b'{"id":"deep","x":' + deep.encode() + b"}") == (
        E.invalid_message,
        f"frames may nest objects and arrays {jsonsafe.MAX_DEPTH} levels deep at most",
        "deep",
    )
    assert refusal('{"id":"u","type":"teleport"}') == (E.unknown_type, "unknown message type 'teleport'", "u")
    assert refusal('{"type":"' + "z" * 100 + '"}')[1] == f"unknown message type {'z' * 40!r}"
    other = "rtm_send" if protocol is sig else "join"  # the other protocol's types are unknown here
    assert refusal('{"type":"' + other + '"}')[0] == E.unknown_type
    assert refusal('{"id":"m","type":"ping"}') == (E.invalid_message, "Object missing required field `t`", "m")
    assert refusal('{"id":"s","type":5}') == (E.invalid_message, "Expected `str` - at `$.type`", "s")
    code, message, rid = refusal('{"id":"j","type":"ping",')
    assert (code, rid) == (E.invalid_message, "j") and message.startswith("not a JSON message: ")
    assert refusal('{"type":"ping","t":1,"id":"' + "i" * 65 + '"}') == (
        E.invalid_message,
        "id is limited to 64 characters",
        None,
    )
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.decode_server("[" * 200 + "]" * 200)
    assert refused.value.message == f"a server frame nests deeper than {2 * jsonsafe.MAX_DEPTH} levels"


def test_each_protocol_raises_its_own_error() -> None:
    assert not issubclass(sig.ProtocolError, rtm.ProtocolError)
    assert not issubclass(rtm.ProtocolError, sig.ProtocolError)
    with pytest.raises(sig.ProtocolError) as refused:
        sig.decode_client("{}")
    assert not isinstance(refused.value, rtm.ProtocolError)
    assert rtm.frame_type('{"type":"rtm_send","data":' + "[" * 5000) == "rtm_send"
    assert rtm.is_messaging_type(rtm.frame_type(b'{"id":"1","type":"rtm_login"}'))
    assert not rtm.is_messaging_type(rtm.frame_type('{"type":"join"}'))
