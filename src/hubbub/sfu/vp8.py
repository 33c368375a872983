"""VP8 payload descriptors (RFC 7741 §4.2) read and rewritten for one down-track.

Theory of operation
-------------------
A simulcast down-track forwards one layer at a time and may drop the frames of higher temporal
layers; the subscriber's decoder must still see one VP8 stream. Sequence numbers and timestamps
are the :class:`~hubbub.sfu.munger.Munger`'s business; this module does the same for the three
counters of the payload descriptor:

* **PictureID** (15 bit, RFC 7741 §4.2 I/M): +1 per picture. Each layer numbers its own; the
  output continues at ``last + 1`` on a layer switch, and a dropped picture (a temporal layer
  above the cap) closes up the numbering, so the receiver sees no missing picture.
* **TL0PICIDX** (8 bit, L): +1 per picture of temporal layer 0; those are never dropped, so it
  only needs moving at a switch (``last + 1``).
* **KEYIDX** (5 bit, K): moved at a switch the same way.

:func:`parse` reads a descriptor from untrusted bytes and returns None when it is truncated;
:func:`descriptor_bytes` writes one (always with a 15-bit PictureID when there is one, so a
layer that sends 7-bit ones still maps into one space); :class:`Vp8Munger` keeps the offsets.
Deterministic and sans-I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubbub.proto.rtp import vp8_fields

__all__ = ["Vp8Descriptor", "Vp8Munger", "descriptor_bytes", "keyframe_size", "parse"]

_PID_MOD = 0x8000  # 15-bit picture IDs
_PICTURES_KEPT = 256  # input -> output picture IDs remembered for late packets and NACKs


@dataclass(frozen=True, slots=True)
class Vp8Descriptor:
    """One packet's payload descriptor; an absent optional field is -1."""

    first: int  # the first octet: X|R|N|S|R|PID
    picture_id: int
    tl0picidx: int
    tid: int  # temporal layer (T); -1 without one
    sync: bool  # Y: depends only on temporal layer 0 (a switching-up point)
    keyidx: int  # K
    size: int  # descriptor length: the VP8 payload starts here

    @property
    def frame_start(self) -> bool:
        """S=1 and partition index 0: the first packet of a picture (RFC 7741 §4.2)."""
        return self.first & 0x17 == 0x10


def parse(payload: bytes | memoryview) -> Vp8Descriptor | None:
    """The descriptor at the start of an RTP payload, or None when it is truncated (RFC 7741 §4.2)."""
    fields = vp8_fields(payload)
    return None if fields is None else Vp8Descriptor(*fields)


def descriptor_bytes(desc: Vp8Descriptor, picture_id: int, tl0picidx: int, keyidx: int) -> bytes:
    """``desc`` written again with new counters (each -1 where ``desc`` has none)."""
    x = 0
    out = bytearray(1)
    if picture_id >= 0:
        x |= 0x80
        out += bytes((0x80 | (picture_id >> 8) & 0x7F, picture_id & 0xFF))  # M=1: 15 bits
    if tl0picidx >= 0:
        x |= 0x40
        out.append(tl0picidx & 0xFF)
    if desc.tid >= 0 or keyidx >= 0:
        t = 0
        if desc.tid >= 0:
            x |= 0x20
            t = (desc.tid << 6) | (0x20 if desc.sync else 0)
        if keyidx >= 0:
            x |= 0x10
            t |= keyidx & 0x1F
        out.append(t)
    if x:
        out[0] = desc.first | 0x80
        out.insert(1, x)
    else:
        out[0] = desc.first & 0x7F
    return bytes(out)


def keyframe_size(payload: bytes | memoryview, desc_size: int) -> tuple[int, int] | None:
    """Width and height from a key frame's first packet (RFC 6386 §9.1, RFC 7741 §4.3), or None."""
    p = desc_size
    if len(payload) < p + 10 or payload[p] & 0x01 or payload[p + 3 : p + 6] != b"\x9d\x01\x2a":
        return None
    width = (payload[p + 6] | payload[p + 7] << 8) & 0x3FFF
    height = (payload[p + 8] | payload[p + 9] << 8) & 0x3FFF
    return width, height


class Vp8Munger:
    """PictureID, TL0PICIDX and KEYIDX rewriting for one down-track (module docstring).

    :meth:`switch` before the first packet of a new source; :meth:`munge` for each forwarded
    packet, :meth:`drop` for each packet of the current source left out on purpose;
    :meth:`lookup` maps a packet resent from the cache without moving anything.
    """

    __slots__ = (
        "_key_off",
        "_last_key",
        "_last_pid",
        "_last_tl0",
        "_pictures",
        "_pid_high",
        "_pid_off",
        "_switching",
        "_tl0_off",
    )

    def __init__(self) -> None:
        self._switching = True  # the next picture opens a source
        self._pid_high = -1  # highest extended input PictureID of the source, -1 before any
        self._pid_off = 0
        self._tl0_off = 0
        self._key_off = 0
        self._last_pid = -1  # last output of each counter, -1 before any
        self._last_tl0 = -1
        self._last_key = -1
        self._pictures: dict[int, int] = {}  # extended input PictureID -> output, current source

    def switch(self) -> None:
        """The next packet comes from another source (a layer switch, a restart)."""
        self._switching = True

    def _extend(self, pid: int) -> int:
        high = self._pid_high
        return high + ((pid - high + 0x4000) & 0x7FFF) - 0x4000

    def _open(self, desc: Vp8Descriptor) -> None:
        """Offsets that make the source's first packet continue the output (``last + 1``)."""
        self._switching = False
        self._pictures.clear()
        if desc.picture_id >= 0:
            self._pid_high = desc.picture_id
            self._pid_off = 0 if self._last_pid < 0 else self._last_pid + 1 - desc.picture_id
        if desc.tl0picidx >= 0:
            self._tl0_off = 0 if self._last_tl0 < 0 else self._last_tl0 + 1 - desc.tl0picidx
        if desc.keyidx >= 0:
            self._key_off = 0 if self._last_key < 0 else self._last_key + 1 - desc.keyidx

    def munge(self, desc: Vp8Descriptor) -> tuple[int, int, int]:
        """The output ``(picture_id, tl0picidx, keyidx)`` of a forwarded packet (-1: absent)."""
        if self._switching:
            self._open(desc)
        pid = desc.picture_id
        out_pid = -1
        if pid >= 0:
            ext = self._extend(pid)
            pictures = self._pictures
            got = pictures.get(ext)
            if got is not None:
                out_pid = got
            else:
                out_pid = (ext + self._pid_off) % _PID_MOD
                pictures[ext] = out_pid
                if len(pictures) > _PICTURES_KEPT:
                    del pictures[next(iter(pictures))]
            if ext > self._pid_high:
                self._pid_high = ext
            if self._last_pid < 0 or 0 < (out_pid - self._last_pid) % _PID_MOD < 0x4000:
                self._last_pid = out_pid
        tl0 = -1
        if desc.tl0picidx >= 0:
            tl0 = (desc.tl0picidx + self._tl0_off) & 0xFF
            if self._last_tl0 < 0 or 0 < (tl0 - self._last_tl0) & 0xFF < 0x80:
                self._last_tl0 = tl0
        key = -1
        if desc.keyidx >= 0:
            key = (desc.keyidx + self._key_off) & 0x1F
            if self._last_key < 0 or 0 < (key - self._last_key) & 0x1F < 0x10:
                self._last_key = key
        return out_pid, tl0, key

    def drop(self, desc: Vp8Descriptor) -> None:
        """A packet of the current source is not forwarded: a new picture closes up the numbering."""
        if self._switching or desc.picture_id < 0 or self._pid_high < 0:
            return
        ext = self._extend(desc.picture_id)
        if ext > self._pid_high:
            self._pid_high = ext
            self._pid_off -= 1

    def lookup(self, desc: Vp8Descriptor) -> tuple[int, int, int] | None:
        """:meth:`munge` for a packet resent from the cache, or None for a picture never forwarded."""
        out_pid = -1
        if desc.picture_id >= 0:
            got = self._pictures.get(self._extend(desc.picture_id))
            if got is None:
                return None
            out_pid = got
        tl0 = (desc.tl0picidx + self._tl0_off) & 0xFF if desc.tl0picidx >= 0 else -1
        key = (desc.keyidx + self._key_off) & 0x1F if desc.keyidx >= 0 else -1
        return out_pid, tl0, key
