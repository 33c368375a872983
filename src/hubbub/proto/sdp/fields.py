"""The field grammar every SDP line shares: numbers, whitespace-separated fields, ``key=value`` lists.

Readers raise :class:`InvalidField`; the parser adds the line number and raises ``SdpParseError``.
"""

from __future__ import annotations

from hubbub.proto.sdp.model import MAX_U32

__all__ = ["InvalidField", "params_text", "read_int", "read_params", "split_fields"]


class InvalidField(ValueError):
    """Raised by field readers; the parser adds the line number."""


def read_int(token: str, what: str, low: int = 0, high: int = MAX_U32) -> int:
    if not (token.isascii() and token.isdigit()) or len(token) > 20:
        raise InvalidField(f"{what} must be a decimal number, got {token!r}")
    value = int(token)
    if not low <= value <= high:
        raise InvalidField(f"{what} {value} is out of range {low}..{high}")
    return value


def split_fields(value: str, what: str, minimum: int) -> list[str]:
    tokens = value.split()
    if len(tokens) < minimum:
        raise InvalidField(f"{what} needs at least {minimum} fields, got {len(tokens)}")
    return tokens


def read_params(text: str) -> dict[str, str | None]:
    """``key[=value];...`` as in RFC 8851 rid-param lists."""
    params: dict[str, str | None] = {}
    for piece in text.split(";"):
        key, eq, val = piece.strip().partition("=")
        key = key.strip()
        if not key:
            if eq or val:
                raise InvalidField(f"parameter {piece!r} has no name")
            continue
        params[key] = val.strip() if eq else None
    return params


def params_text(params: dict[str, str | None]) -> str:
    return ";".join(k if v is None else f"{k}={v}" for k, v in params.items())
