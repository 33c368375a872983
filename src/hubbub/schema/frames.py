"""The codec of JSON text frames, shared by the signaling and the messaging protocol.

Both protocols frame the same way (:mod:`hubbub.schema.signaling`, :mod:`hubbub.schema.messaging`):
one JSON object per frame, tagged by ``type``, a request ``id`` of at most 64 characters. Each
builds one :class:`FrameCodec` from its own message unions, limits, error codes and
:class:`FrameError` subclass.

A client frame is untrusted bytes. :meth:`FrameCodec.decode_client` refuses one, in this order:

1. over ``limits.frame_bytes``: ``frame_too_large``;
2. nesting objects and arrays deeper than ``limits.depth`` (a JSON decoder recurses once per level,
   so the depth is measured first, without recursion): ``invalid_message``;
3. not JSON, not an object, a missing field or a wrong field type: ``invalid_message`` with the
   decoder's words; a ``type`` the protocol does not know: ``unknown_type``;
4. an ``id`` over 64 characters: ``invalid_message``.

Refusals 1-3 carry the frame's ``id`` when a bounded scan of its top level finds one, so the
``error`` frame answers the request it refused. Nothing else escapes: every input either decodes
or raises the protocol's :class:`FrameError`. Server frames (read by clients) are bounded by
depth only.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from hubbub.schema import jsonsafe

MAX_REQUEST_ID = 64
"""Characters in a request's ``id``."""
MAX_TYPE_PEEK = 256
"""Longest ``type`` read back from a frame that failed to decode (to name it in ``unknown_type``)."""


class FrameError(Exception):
    """A frame that cannot be understood. Each protocol subclasses it with its own ``ErrorCode``."""

    def __init__(self, code: StrEnum, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Limits:
    """What a protocol's frames may be."""

    frame_bytes: int
    """Largest client frame."""
    depth: int
    """Nesting levels of objects and arrays in a client frame."""
    server_depth: int
    """Nesting levels in a server frame (what a client accepts)."""


class _Request(Protocol):
    id: str | None


ClientT = TypeVar("ClientT", bound=_Request)
ServerT = TypeVar("ServerT")


def tags(union: Any) -> frozenset[str]:
    """The ``type`` tags of a union of tagged :class:`msgspec.Struct` classes."""
    return frozenset(str(member.__struct_config__.tag) for member in typing.get_args(union))


def frame_type(data: bytes | str) -> str | None:
    """The top-level ``type`` of a frame, by a bounded scan (no decode), or None."""
    return jsonsafe.top_level_string(data, "type", max_len=MAX_TYPE_PEEK)


def request_id(data: bytes | str) -> str | None:
    """The top-level ``id`` of a frame, by a bounded scan (no decode), or None."""
    return jsonsafe.top_level_string(data, "id", max_len=MAX_REQUEST_ID)


class FrameCodec(Generic[ClientT, ServerT]):
    """Decodes one protocol's client and server frames and encodes either.

    ``client`` and ``server`` are the unions of tagged structs each side sends; ``codes`` is the
    protocol's error code enum (it has ``invalid_message``, ``unknown_type`` and
    ``frame_too_large``); ``error`` is the exception raised, built as ``error(code, message, id)``.
    """

    def __init__(
        self,
        client: Any,
        server: Any,
        limits: Limits,
        *,
        codes: type[StrEnum],
        error: type[FrameError],
    ) -> None:
        self._client = msgspec.json.Decoder(client)
        self._server = msgspec.json.Decoder(server)
        self._encoder = msgspec.json.Encoder()
        self.client_types = tags(client)
        self._invalid = codes("invalid_message")
        self._unknown = codes("unknown_type")
        self._too_large = codes("frame_too_large")
        self._error = error
        self.limits = limits

    def decode_client(self, data: bytes | str) -> ClientT:
        """Parse one client frame or raise the protocol's error saying what is wrong with it."""
        limits = self.limits
        if len(data) > limits.frame_bytes:
            message = f"frames are limited to {limits.frame_bytes} bytes"
            raise self._error(self._too_large, message, request_id(data))
        if jsonsafe.depth_exceeds(data, limits.depth):
            message = f"frames may nest objects and arrays {limits.depth} levels deep at most"
            raise self._error(self._invalid, message, request_id(data))
        try:
            msg: ClientT = self._client.decode(data)
        except msgspec.ValidationError as exc:
            raise self._refusal(data, str(exc)) from None
        except (msgspec.DecodeError, RecursionError) as exc:
            raise self._error(self._invalid, f"not a JSON message: {exc}", request_id(data)) from None
        if msg.id is not None and len(msg.id) > MAX_REQUEST_ID:
            raise self._error(self._invalid, f"id is limited to {MAX_REQUEST_ID} characters")
        return msg

    def _refusal(self, data: bytes | str, text: str) -> FrameError:
        """The error for a frame that is JSON but not a valid message: ``unknown_type`` when the
        decoder refused its ``type`` tag and that type is none of this protocol's."""
        rid = request_id(data)
        if "Invalid value" in text and "$.type" in text:
            kind = frame_type(data)
            if kind is not None and kind not in self.client_types:
                return self._error(self._unknown, f"unknown message type {kind[:40]!r}", rid)
        return self._error(self._invalid, text, rid)

    def decode_server(self, data: bytes | str) -> ServerT:
        """Parse one server frame (client side), or raise the protocol's error."""
        if jsonsafe.depth_exceeds(data, self.limits.server_depth):
            message = f"a server frame nests deeper than {self.limits.server_depth} levels"
            raise self._error(self._invalid, message)
        try:
            msg: ServerT = self._server.decode(data)
            return msg
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
            raise self._error(self._invalid, str(exc)) from None

    def encode(self, message: ClientT | ServerT) -> bytes:
        return self._encoder.encode(message)
