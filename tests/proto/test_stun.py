"""STUN codec: RFC 5769 vectors, aioice cross-checks, round trips and fuzzing."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from aioice import stun as aioice_stun
from hypothesis import given
from hypothesis import strategies as st

from hubbub.proto.stun import (
    StunAttr,
    StunClass,
    StunMessage,
    StunMethod,
    StunParseError,
    is_comprehension_required,
    is_stun,
    new_transaction_id,
    pack_address,
    pack_error_code,
    pack_unknown_attributes,
    pack_xor_address,
    unpack_address,
    unpack_error_code,
    unpack_unknown_attributes,
    unpack_xor_address,
    verify_fingerprint,
    verify_integrity,
)


def _hex(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


# RFC 5769 §2.1-§2.3, typed in from the RFC text. The padding of SOFTWARE and USERNAME is 0x20
# there on purpose: a receiver must ignore padding contents, and the hashes cover it.
RFC5769_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
RFC5769_TXID = _hex("b7 e7 a7 01 bc 34 d6 86 fa 87 df ae")
RFC5769_REQUEST = _hex(
    """
    00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
    00 24 00 04 6e 00 01 ff
    80 29 00 08 93 2f f9 b1 51 26 3b 36
    00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
    00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
    80 28 00 04 e5 7a 3b cf
    """
)
RFC5769_IPV4_RESPONSE = _hex(
    """
    01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 08 00 01 a1 47 e1 12 a6 43
    00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
    80 28 00 04 c0 7d 4c 96
    """
)
RFC5769_IPV6_RESPONSE = _hex(
    """
    01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
    80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
    00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
    00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
    80 28 00 04 c8 fb 0b 4c
    """
)
ALL_VECTORS = [RFC5769_REQUEST, RFC5769_IPV4_RESPONSE, RFC5769_IPV6_RESPONSE]


# -- RFC 5769 ---------------------------------------------------------------------------------


def test_rfc5769_request_fields() -> None:
    message = StunMessage.parse(RFC5769_REQUEST)
    assert message.method == StunMethod.BINDING
    assert message.message_class == StunClass.REQUEST
    assert message.transaction_id == RFC5769_TXID
    assert [t for t, _ in message.attributes] == [
        StunAttr.SOFTWARE,
        StunAttr.PRIORITY,
        StunAttr.ICE_CONTROLLED,
        StunAttr.USERNAME,
        StunAttr.MESSAGE_INTEGRITY,
        StunAttr.FINGERPRINT,
    ]
    assert message.software == "STUN test client"
    assert message.priority == 0x6E0001FF
    assert message.ice_controlled == 0x932FF9B151263B36
    assert message.ice_controlling is None
    assert message.username == "evtj:h6vY"  # padding bytes are not part of the value
    assert message.use_candidate is False
    assert message.message_integrity == _hex("9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2")
    assert message.fingerprint == 0xE57A3BCF


def test_rfc5769_request_integrity_and_fingerprint() -> None:
    assert verify_integrity(RFC5769_REQUEST, RFC5769_PASSWORD)
    assert verify_fingerprint(RFC5769_REQUEST)
    assert not verify_integrity(RFC5769_REQUEST, b"VOkJxbRl1RmTxUk/WvJxBT")


@pytest.mark.parametrize(
    ("vector", "address"),
    [
        (RFC5769_IPV4_RESPONSE, ("192.0.2.1", 32853)),
        (RFC5769_IPV6_RESPONSE, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    ],
)
def test_rfc5769_responses(vector: bytes, address: tuple[str, int]) -> None:
    message = StunMessage.parse(vector)
    assert message.method == StunMethod.BINDING
    assert message.message_class == StunClass.SUCCESS
    assert message.transaction_id == RFC5769_TXID
    assert [t for t, _ in message.attributes] == [
        StunAttr.SOFTWARE,
        StunAttr.XOR_MAPPED_ADDRESS,
        StunAttr.MESSAGE_INTEGRITY,
        StunAttr.FINGERPRINT,
    ]
    assert message.software == "test vector"
    assert message.xor_mapped_address == address
    assert verify_integrity(vector, RFC5769_PASSWORD)
    assert verify_fingerprint(vector)
    # Our encoder produces the RFC's XOR-MAPPED-ADDRESS bytes.
    assert pack_xor_address(address, RFC5769_TXID) == message.get(StunAttr.XOR_MAPPED_ADDRESS)


@pytest.mark.parametrize("vector", ALL_VECTORS)
def test_any_flipped_bit_breaks_the_checks(vector: bytes) -> None:
    # A flip anywhere before FINGERPRINT's value breaks the CRC; before MI's value, the HMAC.
    fingerprint_at = len(vector) - 4
    integrity_at = len(vector) - 8 - 20
    for index in range(len(vector)):
        mutated = bytearray(vector)
        mutated[index] ^= 0x01
        data = bytes(mutated)
        if index < fingerprint_at:
            assert not verify_fingerprint(data), index
        if index < integrity_at:
            assert not verify_integrity(data, RFC5769_PASSWORD), index


# -- captured from Chromium ----------------------------------------------------------------------

# Binding requests Chromium 156 sent to IceLiteConnection on loopback (an ice-lite offer with
# ufrag/pwd below; Chromium's answer chose ufrag "IP3z"): the first check, then the nominating one.
FIXTURES = Path(__file__).parent / "fixtures" / "stun"
CHROMIUM_PWD = b"hubbubFixturePassword012"


@pytest.mark.parametrize(
    ("name", "nominating"),
    [("chromium_binding_request.bin", False), ("chromium_binding_request_nominating.bin", True)],
)
def test_chromium_capture(name: str, nominating: bool) -> None:
    data = (FIXTURES / name).read_bytes()
    message = StunMessage.parse(data)
    assert (message.method, message.message_class) == (StunMethod.BINDING, StunClass.REQUEST)
    expected = [StunAttr.USERNAME, StunAttr.GOOG_NETWORK_INFO, StunAttr.ICE_CONTROLLING]
    expected += [StunAttr.USE_CANDIDATE] if nominating else []
    expected += [StunAttr.PRIORITY, StunAttr.MESSAGE_INTEGRITY, StunAttr.FINGERPRINT]
    assert [t for t, _ in message.attributes] == expected
    assert message.username == "hbSrvU01:IP3z"
    assert message.use_candidate is nominating
    assert message.priority == 1845501695
    assert message.ice_controlling == 0xB675D6C7FEC15DED
    assert message.get(StunAttr.GOOG_NETWORK_INFO) == b"\x00\x00\x03\xe7"
    assert verify_integrity(data, CHROMIUM_PWD) and message.check_integrity(CHROMIUM_PWD)
    assert not verify_integrity(data, b"hubbubFixturePassword013")
    assert verify_fingerprint(data) and message.check_fingerprint()
    # Chromium pads with zeros, so re-encoding reproduces the capture byte for byte.
    assert bytes(message) == data
    assert message.encode(CHROMIUM_PWD, fingerprint=True) == data


# -- encoding, cross-checked with aioice (an independent implementation) -----------------------


def test_encode_matches_aioice_byte_for_byte() -> None:
    txid = new_transaction_id()
    ours = StunMessage(
        StunMethod.BINDING,
        StunClass.REQUEST,
        txid,
        (
            (StunAttr.USERNAME, b"abcd:efghi"),  # 10 bytes: padded
            (StunAttr.PRIORITY, struct.pack("!I", 1853824767)),
            (StunAttr.USE_CANDIDATE, b""),
            (StunAttr.ICE_CONTROLLING, struct.pack("!Q", 0x0102030405060708)),
        ),
    ).encode(b"secret-password", fingerprint=True)
    theirs = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST, txid)
    theirs.attributes["USERNAME"] = "abcd:efghi"
    theirs.attributes["PRIORITY"] = 1853824767
    theirs.attributes["USE-CANDIDATE"] = None
    theirs.attributes["ICE-CONTROLLING"] = 0x0102030405060708
    theirs.add_message_integrity(b"secret-password")
    assert ours == bytes(theirs)


@pytest.mark.parametrize("address", [("192.0.2.1", 32853), ("2001:db8::1", 9), ("10.0.0.1", 65535)])
def test_response_encode_parsed_by_aioice(address: tuple[str, int]) -> None:
    txid = new_transaction_id()
    data = StunMessage(
        StunMethod.BINDING,
        StunClass.SUCCESS,
        txid,
        ((StunAttr.XOR_MAPPED_ADDRESS, pack_xor_address(address, txid)),),
    ).encode(b"pw", fingerprint=True)
    parsed = aioice_stun.parse_message(data)  # raises if FINGERPRINT is wrong
    assert parsed.message_class == aioice_stun.Class.RESPONSE
    assert parsed.transaction_id == txid
    assert parsed.attributes["XOR-MAPPED-ADDRESS"] == address
    assert parsed.check_message_integrity(b"pw")
    assert not parsed.check_message_integrity(b"px")
    assert verify_integrity(data, b"pw") and verify_fingerprint(data)


def test_parse_aioice_message() -> None:
    message = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.ERROR)
    message.attributes["ERROR-CODE"] = (487, "Role Conflict")
    message.attributes["MAPPED-ADDRESS"] = ("198.51.100.7", 3478)
    message.add_message_integrity(b"k")
    data = bytes(message)
    parsed = StunMessage.parse(data)
    assert parsed.message_class == StunClass.ERROR
    assert parsed.error_code == (487, "Role Conflict")
    assert parsed.mapped_address == ("198.51.100.7", 3478)
    assert verify_integrity(data, b"k") and verify_fingerprint(data)


def test_encode_replaces_stale_integrity_and_fingerprint() -> None:
    message = StunMessage.parse(RFC5769_IPV4_RESPONSE)
    data = message.encode(RFC5769_PASSWORD, fingerprint=True)
    again = StunMessage.parse(data)
    assert [t for t, _ in again.attributes] == [t for t, _ in message.attributes]
    assert again.xor_mapped_address == ("192.0.2.1", 32853)
    assert verify_integrity(data, RFC5769_PASSWORD) and verify_fingerprint(data)
    # The RFC pads SOFTWARE with 0x20, we pad with zeros: same attributes, new MI value.
    assert again.message_integrity != message.message_integrity
    assert aioice_stun.parse_message(data).check_message_integrity(RFC5769_PASSWORD)


def test_bytes_keeps_attributes_as_they_are() -> None:
    message = StunMessage.parse(RFC5769_REQUEST)
    data = bytes(message)
    assert len(data) == len(RFC5769_REQUEST)
    assert StunMessage.parse(data) == message
    assert verify_integrity(data, RFC5769_PASSWORD) is False  # padding differs: 0x00 vs 0x20


def test_encode_integrity_only_and_fingerprint_only() -> None:
    base = StunMessage(StunMethod.BINDING, StunClass.INDICATION, bytes(12))
    assert bytes(base) == _hex("00 11 00 00 21 12 a4 42") + bytes(12)
    only_mi = base.encode(b"key")
    assert verify_integrity(only_mi, b"key") and not verify_fingerprint(only_mi)
    only_fp = base.encode(fingerprint=True)
    assert verify_fingerprint(only_fp) and not verify_integrity(only_fp, b"key")
    assert len(only_fp) == 28 and only_fp[2:4] == b"\x00\x08"


def test_message_type_bits() -> None:
    # RFC 8489 §5 / §6: Binding request 0x0001, indication 0x0011, success 0x0101, error 0x0111.
    for message_class, wire in [
        (StunClass.REQUEST, 0x0001),
        (StunClass.INDICATION, 0x0011),
        (StunClass.SUCCESS, 0x0101),
        (StunClass.ERROR, 0x0111),
    ]:
        data = bytes(StunMessage(StunMethod.BINDING, message_class, bytes(12)))
        assert int.from_bytes(data[:2], "big") == wire
    # Allocate (0x003) success response is 0x0103 (RFC 8656).
    assert bytes(StunMessage(0x003, StunClass.SUCCESS, bytes(12)))[:2] == b"\x01\x03"


@given(st.integers(0, 0xFFF), st.sampled_from(list(StunClass)))
def test_method_and_class_round_trip(method: int, message_class: StunClass) -> None:
    parsed = StunMessage.parse(bytes(StunMessage(method, message_class, bytes(12))))
    assert (parsed.method, parsed.message_class) == (method, message_class)


_ATTRIBUTE_TYPES = st.integers(0, 0xFFFF).filter(lambda t: t not in (StunAttr.MESSAGE_INTEGRITY, StunAttr.FINGERPRINT))


@given(
    method=st.integers(0, 0xFFF),
    message_class=st.sampled_from(list(StunClass)),
    txid=st.binary(min_size=12, max_size=12),
    attributes=st.lists(st.tuples(_ATTRIBUTE_TYPES, st.binary(max_size=40)), max_size=8),
    key=st.none() | st.binary(min_size=1, max_size=32),
    fingerprint=st.booleans(),
)
def test_round_trip(
    method: int,
    message_class: StunClass,
    txid: bytes,
    attributes: list[tuple[int, bytes]],
    key: bytes | None,
    fingerprint: bool,
) -> None:
    message = StunMessage(method, message_class, txid, tuple(attributes))
    data = message.encode(key, fingerprint)
    assert len(data) % 4 == 0
    parsed = StunMessage.parse(data)
    assert parsed.attributes[: len(attributes)] == tuple(attributes)
    assert (parsed.method, parsed.message_class, parsed.transaction_id) == (method, message_class, txid)
    assert verify_fingerprint(data) is fingerprint
    if key is not None:
        assert verify_integrity(data, key)
        assert not verify_integrity(data, key + b"x")
    assert StunMessage.parse(bytes(message)) == message


# -- attribute values --------------------------------------------------------------------------


def test_address_codecs() -> None:
    txid = RFC5769_TXID
    assert unpack_address(pack_address(("192.0.2.1", 80))) == ("192.0.2.1", 80)
    assert unpack_address(pack_address(("2001:db8::5", 80))) == ("2001:db8::5", 80)
    # IPv4-mapped IPv6 (dual-stack sockets) is answered as the IPv4 address the peer used.
    assert pack_address(("::ffff:192.0.2.1", 80)) == pack_address(("192.0.2.1", 80))
    assert unpack_xor_address(pack_xor_address(("fe80::1%eth0", 5), txid), txid) == ("fe80::1", 5)
    with pytest.raises(ValueError):
        pack_address(("example.org", 80))
    for bad in [b"", b"\x00\x01\x00", b"\x00\x01\x00\x50\x01\x02\x03", b"\x00\x03\x00\x50\x01\x02\x03\x04"]:
        with pytest.raises(StunParseError):
            unpack_address(bad)


def test_error_code_and_unknown_attributes() -> None:
    # RFC 8489 §14.8: class 4, number 20 for 420.
    assert pack_error_code(420, "Unknown Attribute")[:4] == b"\x00\x00\x04\x14"
    assert unpack_error_code(pack_error_code(487, "Role Conflict")) == (487, "Role Conflict")
    with pytest.raises(ValueError):
        pack_error_code(200, "OK")
    with pytest.raises(StunParseError):
        unpack_error_code(b"\x00\x00\x04")
    with pytest.raises(StunParseError):
        unpack_error_code(b"\x00\x00\x04\x14\xff")
    assert pack_unknown_attributes([0x0031, 0x7FFF]) == b"\x00\x31\x7f\xff"
    assert unpack_unknown_attributes(b"\x00\x31\x7f\xff") == (0x0031, 0x7FFF)
    with pytest.raises(StunParseError):
        unpack_unknown_attributes(b"\x00")


def test_typed_accessors_reject_bad_lengths() -> None:
    message = StunMessage(
        StunMethod.BINDING,
        StunClass.REQUEST,
        bytes(12),
        ((StunAttr.PRIORITY, b"\x01"), (StunAttr.ICE_CONTROLLING, b"\x01\x02"), (StunAttr.USERNAME, b"\xff")),
    )
    for name in ("priority", "ice_controlling", "username"):
        with pytest.raises(StunParseError):
            getattr(message, name)


def test_unknown_attributes_kept_raw() -> None:
    # Chromium's GOOG-NETWORK-INFO (network id, cost) and an unknown comprehension-required one.
    raw = (
        (StunAttr.GOOG_NETWORK_INFO, b"\x00\x01\x00\x0a"),
        (0x7777, b"xyz"),
    )
    message = StunMessage.parse(StunMessage(StunMethod.BINDING, StunClass.REQUEST, bytes(12), raw).encode())
    assert message.attributes == raw
    assert message.get(StunAttr.GOOG_NETWORK_INFO) == b"\x00\x01\x00\x0a"
    assert message.unknown_required(frozenset()) == (0x7777,)
    assert is_comprehension_required(0x7777) and not is_comprehension_required(StunAttr.GOOG_NETWORK_INFO)


# -- malformed input ---------------------------------------------------------------------------


def test_is_stun_demux() -> None:
    assert all(is_stun(v) for v in ALL_VECTORS)
    assert not is_stun(b"\x80" + RFC5769_REQUEST[1:])  # RTP/RTCP
    assert not is_stun(b"\x16" + RFC5769_REQUEST[1:])  # DTLS
    assert not is_stun(RFC5769_REQUEST[:4] + b"\x00\x00\x00\x00" + RFC5769_REQUEST[8:])  # no cookie
    assert not is_stun(RFC5769_REQUEST[:19])


def _with_length(data: bytes, length: int) -> bytes:
    return data[:2] + length.to_bytes(2, "big") + data[4:]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        RFC5769_REQUEST[:19],
        b"\xc0" + RFC5769_REQUEST[1:],  # leading bits set
        RFC5769_REQUEST[:4] + b"\x21\x12\xa4\x43" + RFC5769_REQUEST[8:],  # cookie
        RFC5769_REQUEST[:-1],  # length mismatch
        _with_length(RFC5769_REQUEST + b"\x00\x00", 0x5A),  # length not a multiple of 4
        _with_length(RFC5769_REQUEST[:20] + b"\x00\x06\x00\x09abcd", 8),  # attribute overruns
        _with_length(RFC5769_REQUEST[:20] + b"\x00\x06\x00\x05abcde", 12)[:-3],  # bad padding
        _with_length(RFC5769_REQUEST[:20] + b"\x00\x08\x00\x04abcd", 8),  # MI length
        _with_length(RFC5769_REQUEST[:20] + b"\x80\x28\x00\x00", 4),  # FINGERPRINT length
    ],
)
def test_parse_errors(data: bytes) -> None:
    with pytest.raises(StunParseError):
        StunMessage.parse(data)
    assert not verify_fingerprint(data)
    assert not verify_integrity(data, RFC5769_PASSWORD)


def test_attribute_after_fingerprint() -> None:
    # RFC 8489 §14.7: FINGERPRINT must be last; the message is malformed and fails both checks.
    data = _with_length(RFC5769_REQUEST + b"\x80\x22\x00\x00", 0x5C)
    with pytest.raises(StunParseError):
        StunMessage.parse(data)
    assert not verify_fingerprint(data)
    assert not verify_integrity(data, RFC5769_PASSWORD)


def test_attributes_after_integrity_are_ignored() -> None:
    # RFC 8489 §14.5: only FINGERPRINT may follow MESSAGE-INTEGRITY; others are ignored.
    body = RFC5769_IPV4_RESPONSE[20:-8] + b"\x80\x22\x00\x04evil"
    data = _with_length(RFC5769_IPV4_RESPONSE[:20], len(body)) + body
    message = StunMessage.parse(data)
    assert message.attributes[-1][0] == StunAttr.MESSAGE_INTEGRITY
    assert message.software == "test vector"
    assert verify_integrity(data, RFC5769_PASSWORD)
    assert not verify_fingerprint(data)  # FINGERPRINT is not last (absent)


def test_parse_accepts_memoryview_and_bytearray() -> None:
    assert StunMessage.parse(memoryview(RFC5769_REQUEST)) == StunMessage.parse(bytearray(RFC5769_REQUEST))


def _check_parse_only_raises_parse_error(data: bytes) -> None:
    try:
        message = StunMessage.parse(data)
    except StunParseError:
        return
    for name in (
        "username",
        "software",
        "priority",
        "fingerprint",
        "use_candidate",
        "ice_controlling",
        "ice_controlled",
        "mapped_address",
        "xor_mapped_address",
        "error_code",
        "unknown_attributes",
    ):
        with contextlib.suppress(StunParseError):
            getattr(message, name)
    assert StunMessage.parse(bytes(message)) == message


@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _check_parse_only_raises_parse_error(data)
    assert isinstance(verify_fingerprint(data), bool)
    assert isinstance(verify_integrity(data, b"k"), bool)


@given(st.binary(min_size=4, max_size=120))
def test_fuzz_header_then_garbage(tail: bytes) -> None:
    # A valid header with a matching length, so the attribute walker is actually exercised.
    tail = tail[: len(tail) - len(tail) % 4]
    data = _with_length(RFC5769_REQUEST[:20], len(tail)) + tail
    _check_parse_only_raises_parse_error(data)
    assert isinstance(verify_fingerprint(data), bool)
    assert isinstance(verify_integrity(data, b"k"), bool)


@given(st.sampled_from(ALL_VECTORS), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4))
def test_fuzz_mutated_vectors(vector: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(vector)
    for index, value in edits:
        data[index % len(data)] = value
    _check_parse_only_raises_parse_error(bytes(data))


# Addresses are packed and printed with ipaddress (proto does no socket calls); the results are
# the ones inet_pton/inet_ntop give, IPv4-mapped and IPv4-compatible IPv6 text included.

_v6_words = st.lists(st.sampled_from([0, 0, 0, 0xFFFF, 1]) | st.integers(0, 0xFFFF), min_size=8, max_size=8)


@given(_v6_words, st.integers(0, 0xFFFF))
def test_ipv6_addresses_match_the_socket_module(words: list[int], port: int) -> None:
    import socket

    packed = b"".join(w.to_bytes(2, "big") for w in words)
    value = struct.pack("!BBH", 0, 0x02, port) + packed
    if packed[:12] == bytes(10) + b"\xff\xff":  # IPv4-mapped: packed as IPv4, printed as mapped
        assert unpack_address(value) == ("::ffff:" + socket.inet_ntop(socket.AF_INET, packed[12:]), port)
        assert pack_address(unpack_address(value)) == struct.pack("!BBH", 0, 0x01, port) + packed[12:]
        return
    text = socket.inet_ntop(socket.AF_INET6, packed)
    assert unpack_address(value) == (text, port)
    assert pack_address((text, port)) == value


@given(st.binary(min_size=4, max_size=4), st.integers(0, 0xFFFF))
def test_ipv4_addresses_match_the_socket_module(packed: bytes, port: int) -> None:
    import socket

    value = struct.pack("!BBH", 0, 0x01, port) + packed
    assert unpack_address(value) == (socket.inet_ntop(socket.AF_INET, packed), port)
    assert pack_address(unpack_address(value)) == value


@pytest.mark.parametrize("host", ["01.2.3.4", "1.2.3", "1.2.3.256", "example.org", "", "::ffff:1.2.3.4.5"])
def test_pack_refuses_what_is_not_an_ip_address(host: str) -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        pack_address((host, 3478))


def test_pack_drops_an_ipv6_zone_index() -> None:
    assert pack_address(("fe80::1%eth0", 1)) == pack_address(("fe80::1", 1))
