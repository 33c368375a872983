"""Recently received packets of one up-track, for answering NACKs (RFC 4585 §6.2.1, RFC 4588).

A ring of ``capacity`` slots (a power of two) indexed by the extended sequence number modulo
the capacity. Each slot remembers the extended seq it holds, so a lookup by 16-bit seq is
resolved against the newest packet (nearest candidate, wrap-aware) and a stale slot is never
mistaken for a current one. The cache stores references to the received ``bytes`` objects:
putting a packet copies nothing.
"""

from __future__ import annotations

__all__ = ["PacketCache"]


class PacketCache:
    """Bounded cache keyed by the publisher's (original) sequence number."""

    __slots__ = ("_high", "_high_ext", "_mask", "_packets", "_seqs", "capacity")

    def __init__(self, capacity: int = 512) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        size = 1 << (capacity - 1).bit_length()
        self.capacity = size
        self._mask = size - 1
        self._packets: list[bytes | None] = [None] * size
        self._seqs: list[int] = [-1] * size  # extended seq held by each slot
        self._high = -1  # 16-bit seq of the newest packet
        self._high_ext = -1

    def _extend(self, seq: int) -> int:
        return self._high_ext + (((seq - self._high + 0x8000) & 0xFFFF) - 0x8000)

    def put(self, seq: int, packet: bytes) -> bool:
        """Store a packet. False when it is a duplicate or older than the window (not stored)."""
        if self._high < 0:
            self._high = seq & 0xFFFF
            self._high_ext = ext = self._high + 0x10000  # extended seqs stay positive
        else:
            ext = self._extend(seq)
            if ext > self._high_ext:
                self._high = seq & 0xFFFF
                self._high_ext = ext
            elif ext <= self._high_ext - self.capacity:
                return False
        slot = ext & self._mask
        if self._seqs[slot] == ext:
            return False
        self._seqs[slot] = ext
        self._packets[slot] = packet
        return True

    def get(self, seq: int) -> bytes | None:
        """The packet with 16-bit sequence number ``seq``, or None if evicted or never seen."""
        if self._high < 0:
            return None
        ext = self._extend(seq)
        if ext > self._high_ext or ext <= self._high_ext - self.capacity:
            return None
        slot = ext & self._mask
        return self._packets[slot] if self._seqs[slot] == ext else None

    def __contains__(self, seq: int) -> bool:
        return self.get(seq) is not None

    def __len__(self) -> int:
        if self._high < 0:
            return 0
        low = self._high_ext - self.capacity
        return sum(1 for s in self._seqs if s > low)

    def clear(self) -> None:
        self._packets = [None] * self.capacity
        self._seqs = [-1] * self.capacity
        self._high = -1
        self._high_ext = -1
