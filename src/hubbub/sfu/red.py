"""RTP payload for redundant audio (RFC 2198): parsing untrusted payloads, writing them, unwrapping.

A RED payload is a run of block headers, then the blocks' data in the same order. Every header
but the last is four bytes (RFC 2198 §3): F=1, the block's 7-bit payload type, a 14-bit
timestamp offset (how far before the packet's timestamp the block was encoded) and a 10-bit
length. The last header is one byte, F=0 and the payload type of the *primary* block, whose
length is what remains of the payload. Chromium sends ``red/48000/2`` with Opus blocks, the
redundant ones (oldest first) before the primary.

Everything here is pure: bytes in, blocks or bytes out. Malformed input raises ``ValueError``
and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from hubbub.proto.sdp_negotiation import NegotiatedMedia
from hubbub.sfu.negotiation import red_payload_types

__all__ = [
    "RedBlock",
    "build",
    "configure_down_track",
    "parse",
    "primary",
    "remap",
    "unwrap",
]

_MAX_OFFSET = (1 << 14) - 1
_MAX_LENGTH = (1 << 10) - 1


@dataclass(frozen=True, slots=True)
class RedBlock:
    """One block of a RED payload; ``offset`` is 0 for the primary block."""

    pt: int
    offset: int
    data: bytes


def parse(payload: bytes) -> tuple[list[RedBlock], RedBlock]:
    """The redundant blocks (in payload order) and the primary block of a RED payload."""
    headers: list[tuple[int, int, int]] = []
    pos = 0
    size = len(payload)
    while True:
        if pos >= size:
            raise ValueError("RED payload ends inside its block headers")
        first = payload[pos]
        if not first & 0x80:  # the final, one-byte header
            primary_pt = first & 0x7F
            pos += 1
            break
        if pos + 4 > size:
            raise ValueError("RED block header is cut short")
        word = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        headers.append((first & 0x7F, word >> 10, word & 0x3FF))
        pos += 4
    redundant: list[RedBlock] = []
    for pt, offset, length in headers:
        if pos + length > size:
            raise ValueError("RED block is longer than the payload")
        redundant.append(RedBlock(pt, offset, bytes(payload[pos : pos + length])))
        pos += length
    return redundant, RedBlock(primary_pt, 0, bytes(payload[pos:]))


def primary(payload: bytes) -> tuple[int, bytes]:
    """The payload type and data of a RED payload's primary block."""
    _redundant, block = parse(payload)
    return block.pt, block.data


def build(redundant: Sequence[RedBlock], main: RedBlock) -> bytes:
    """A RED payload of ``redundant`` blocks (in order) then the primary ``main``."""
    out = bytearray()
    for block in (*redundant, main):
        if not 0 <= block.pt <= 0x7F:
            raise ValueError(f"RED block payload type {block.pt} is not 7 bits")
    for block in redundant:
        if not 0 <= block.offset <= _MAX_OFFSET:
            raise ValueError(f"RED timestamp offset {block.offset} is not 14 bits")
        if len(block.data) > _MAX_LENGTH:
            raise ValueError(f"RED block of {len(block.data)} bytes is longer than 10 bits say")
        word = block.offset << 10 | len(block.data)
        out.append(0x80 | block.pt)
        out += word.to_bytes(3, "big")
    out.append(main.pt)
    for block in redundant:
        out += block.data
    out += main.data
    return bytes(out)


def remap(payload: bytes, mapping: Callable[[int], int]) -> bytes:
    """The RED payload with every block's payload type passed through ``mapping``.

    Only the header bytes change; the block data are copied as they are.
    """
    redundant, main = parse(payload)
    return build(
        [RedBlock(mapping(b.pt), b.offset, b.data) for b in redundant],
        RedBlock(mapping(main.pt), 0, main.data),
    )


def unwrap(payload: bytes, expected_pt: int) -> bytes:
    """The primary block's data when it is of ``expected_pt`` (e.g. the up-track's Opus PT).

    Raises ``ValueError`` when the payload is malformed, the primary block is of another payload
    type, or it is empty (nothing a plain decoder could use): the caller drops such packets.
    """
    pt, data = primary(payload)
    if pt != expected_pt:
        raise ValueError(f"RED primary block has payload type {pt}, expected {expected_pt}")
    if not data:
        raise ValueError("RED primary block is empty")
    return data


class _Unwrapping(Protocol):
    red_optional: tuple[int, int] | None

    def set_red_unwrap(self, red_pt: int, primary_pt: int, out_pt: int) -> None: ...


def configure_down_track(down: _Unwrapping, published: NegotiatedMedia, answered: NegotiatedMedia) -> None:
    """Fit a down-track to what its subscriber answered: one that accepted RED gets the RED
    packets as they come; one that accepted only the blocks' codec gets the primary blocks. One
    that accepted both may be sent either (``red_optional``): its downlink drops the redundancy
    while a congested path has no loss for it to repair (``hubbub.sfu.downlink``).

    The subscriber was offered the publisher's payload types (``subscriber_codecs``), so a
    forwarded RED payload's block payload types need no mapping.
    """
    sent = red_payload_types(published)
    if sent is None:
        return
    red_pt, primary_pt = sent
    if not any(c.pt == primary_pt for c in answered.codecs):
        return
    if red_payload_types(answered) is None:
        down.set_red_unwrap(red_pt, primary_pt, primary_pt)
    else:
        down.red_optional = (red_pt, primary_pt)
