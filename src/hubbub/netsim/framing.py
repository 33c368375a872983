"""RFC 4571 framing (ICE-TCP, RFC 6544 §3): each packet on the stream is a 16-bit length and the packet."""

from __future__ import annotations

import struct

MAX_FRAME = 0xFFFF


class Deframer:
    """Cuts a byte stream into the packets it carries; bytes of an unfinished frame wait for the rest."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 2:
            (length,) = struct.unpack_from("!H", self._buffer)
            if len(self._buffer) < 2 + length:
                break
            frames.append(bytes(self._buffer[2 : 2 + length]))
            del self._buffer[: 2 + length]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)


def frame(packet: bytes) -> bytes:
    if len(packet) > MAX_FRAME:
        raise ValueError(f"an RFC 4571 frame carries at most {MAX_FRAME} bytes")
    return struct.pack("!H", len(packet)) + packet
