"""VP8 payload descriptors (RFC 7741 §4.2): parsing untrusted bytes, writing them again, and the
picture ID / TL0PICIDX / KEYIDX rewriting of one down-track across switches and drops."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto.rtp import vp8_descriptor
from hubbub.sfu import vp8
from hubbub.sfu.vp8 import Vp8Descriptor, Vp8Munger


def descriptor(
    pid: int = -1, tl0: int = -1, tid: int = -1, sync: bool = False, keyidx: int = -1, *, start: bool = True
) -> bytes:
    """A descriptor as Chromium writes one (15-bit picture IDs)."""
    first = 0x10 if start else 0x00
    x = 0
    rest = bytearray()
    if pid >= 0:
        x |= 0x80
        rest += bytes((0x80 | pid >> 8, pid & 0xFF))
    if tl0 >= 0:
        x |= 0x40
        rest.append(tl0)
    if tid >= 0 or keyidx >= 0:
        t = 0
        if tid >= 0:
            x |= 0x20
            t |= tid << 6 | (0x20 if sync else 0)
        if keyidx >= 0:
            x |= 0x10
            t |= keyidx
        rest.append(t)
    if not x:
        return bytes((first,))
    return bytes((first | 0x80, x)) + bytes(rest)


def test_a_full_descriptor_is_read() -> None:
    d = vp8.parse(descriptor(0x1234, 200, 2, True, 17) + b"\x9d")
    assert d == Vp8Descriptor(0x90, 0x1234, 200, 2, True, 17, 6)
    assert d.frame_start


def test_a_7_bit_picture_id_and_a_bare_descriptor() -> None:
    d = vp8.parse(bytes((0x90, 0x80, 0x05)) + b"payload")
    assert d is not None and (d.picture_id, d.tl0picidx, d.tid, d.size) == (5, -1, -1, 3)
    bare = vp8.parse(b"\x11payload")  # S=1 but partition 1: not a picture start
    assert bare is not None and bare.size == 1 and not bare.frame_start


def test_truncated_descriptors_are_none() -> None:
    full = descriptor(0x1234, 200, 2, True, 17)
    for n in range(len(full)):
        assert vp8.parse(full[:n]) is None


@settings(max_examples=500)
@given(st.binary(max_size=12))
def test_any_bytes_parse_or_are_refused_as_the_proto_reader_does(data: bytes) -> None:
    got = vp8.parse(data)
    try:
        pid, tl0, tid, start, size = vp8_descriptor(data)
    except ValueError:
        assert got is None
        return
    assert got is not None
    assert (got.picture_id, got.tl0picidx, got.tid, got.size) == (pid, tl0, tid, size)
    assert bool(got.first & 0x10) == start and got.size <= len(data)


@given(
    st.integers(-1, 0x7FFF),
    st.integers(-1, 255),
    st.integers(-1, 3),
    st.booleans(),
    st.integers(-1, 31),
    st.booleans(),
)
def test_written_descriptors_read_back(pid: int, tl0: int, tid: int, sync: bool, keyidx: int, start: bool) -> None:
    original = descriptor(pid, tl0, tid, sync and tid >= 0, keyidx, start=start)
    d = vp8.parse(original)
    assert d is not None
    assert vp8.descriptor_bytes(d, d.picture_id, d.tl0picidx, d.keyidx) == original
    moved = vp8.parse(vp8.descriptor_bytes(d, (pid + 7) % 0x8000 if pid >= 0 else -1, tl0, keyidx))
    assert moved is not None and moved.tid == d.tid and moved.sync == d.sync and moved.frame_start == d.frame_start


def test_a_7_bit_picture_id_is_written_as_15_bits() -> None:
    d = vp8.parse(bytes((0x90, 0x80, 0x05)))
    assert d is not None
    assert vp8.descriptor_bytes(d, 300, -1, -1) == bytes((0x90, 0x80, 0x81, 0x2C))


def test_keyframe_size() -> None:
    key = b"\x10" + b"\x00\x00\x00\x9d\x01\x2a" + (640).to_bytes(2, "little") + (360 | 0x4000).to_bytes(2, "little")
    assert vp8.keyframe_size(key, 1) == (640, 360)  # the scaling bits are not the size
    assert vp8.keyframe_size(key[:-1], 1) is None
    assert vp8.keyframe_size(b"\x10\x01" + key[2:], 1) is None  # P=1: an inter frame


# --- rewriting -------------------------------------------------------------------------------------


def picture(pid: int, tl0: int, tid: int, keyidx: int = 0) -> Vp8Descriptor:
    d = vp8.parse(descriptor(pid, tl0, tid, False, keyidx))
    assert d is not None
    return d


def test_one_source_keeps_its_numbers() -> None:
    m = Vp8Munger()
    assert m.munge(picture(100, 7, 0)) == (100, 7, 0)
    assert m.munge(picture(101, 7, 1)) == (101, 7, 0)
    assert m.munge(picture(101, 7, 1)) == (101, 7, 0)  # the picture's second packet


def test_a_switch_continues_every_counter() -> None:
    m = Vp8Munger()
    m.munge(picture(0x7FFE, 255, 0, 30))
    m.munge(picture(0x7FFF, 255, 1, 30))
    m.switch()
    assert m.munge(picture(9, 40, 0, 3)) == (0, 0, 31)  # every one wraps into last + 1
    assert m.munge(picture(10, 40, 2, 3)) == (1, 0, 31)
    assert m.munge(picture(11, 41, 0, 3)) == (2, 1, 31)


def test_dropped_pictures_close_up_the_picture_ids() -> None:
    m = Vp8Munger()
    m.munge(picture(10, 1, 0))
    m.drop(picture(11, 1, 2))
    m.drop(picture(11, 1, 2))  # its second packet: one picture, one step
    assert m.munge(picture(12, 1, 1)) == (11, 1, 0)
    m.drop(picture(13, 1, 2))
    assert m.munge(picture(14, 2, 0)) == (12, 2, 0)
    assert m.lookup(picture(12, 1, 1)) == (11, 1, 0)  # resent as it was sent
    assert m.lookup(picture(13, 1, 2)) is None  # never forwarded
    assert m.munge(picture(12, 1, 1)) == (11, 1, 0)  # a late packet of a forwarded picture


def test_a_late_drop_changes_nothing() -> None:
    m = Vp8Munger()
    m.munge(picture(10, 1, 0))
    m.munge(picture(12, 1, 0))
    m.drop(picture(11, 1, 2))  # older than the newest: no picture after it moves
    assert m.munge(picture(13, 2, 0)) == (13, 2, 0)


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=80), st.integers(0, 0x7FFF))
def test_forwarded_pictures_are_numbered_one_by_one(script: list[tuple[int, bool]], start: int) -> None:
    """Whatever is dropped and wherever the source changes, the output picture IDs step by one
    and TL0PICIDX steps by one per picture of layer 0."""
    m = Vp8Munger()
    pid, tl0 = start, 3
    out: list[tuple[int, int, int]] = []
    for tid, switch in script:
        if switch:
            m.switch()
            pid, tl0 = (pid * 7 + 1000) % 0x8000, (tl0 * 3 + 50) % 256  # another layer's counters
            tid = 0  # a switch happens at a key frame
        elif tid == 0:
            tl0 = (tl0 + 1) % 256
        d = picture(pid, tl0, tid)
        if tid == 3:  # above the cap
            m.drop(d)
        else:
            got = m.munge(d)
            out.append((got[0], got[1], tid))
        pid = (pid + 1) % 0x8000
    for (p0, t0, _), (p1, t1, tid1) in itertools.pairwise(out):
        assert p1 == (p0 + 1) % 0x8000
        assert t1 == ((t0 + 1) % 256 if tid1 == 0 else t0)
