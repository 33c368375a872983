"""STUN message codec (RFC 8489, compatible with RFC 5389), sans-I/O.

Theory of operation
-------------------
A `StunMessage` is a value: method, class, transaction id and the attributes in wire order, each
kept as its raw value bytes (``(type, value)`` pairs). Typed views (`username`, `priority`,
`xor_mapped_address`, ...) decode a value only when asked, so parsing a Binding request on the hot
path costs one walk over the attribute headers. Attributes this module does not know (Chromium's
GOOG-NETWORK-INFO among them) survive a parse/encode round trip unchanged.

`verify_integrity` and `verify_fingerprint` work on the bytes as received: re-encoding a message
could change padding bytes or attribute order, and the HMAC and CRC cover the wire bytes.

Every error about untrusted input is a `StunParseError` (a `ValueError`); nothing else escapes.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "FINGERPRINT_XOR",
    "HEADER_LENGTH",
    "MAGIC_COOKIE",
    "StunAttr",
    "StunClass",
    "StunMessage",
    "StunMethod",
    "StunParseError",
    "encode_message",
    "is_comprehension_required",
    "is_stun",
    "new_transaction_id",
    "pack_address",
    "pack_error_code",
    "pack_unknown_attributes",
    "pack_xor_address",
    "unpack_address",
    "unpack_error_code",
    "unpack_unknown_attributes",
    "unpack_xor_address",
    "verify_fingerprint",
    "verify_integrity",
]

Address = tuple[str, int]
Attribute = tuple[int, bytes]

# RFC 8489 §5: fixed header, magic cookie.
HEADER_LENGTH = 20
MAGIC_COOKIE = 0x2112A442
_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
# RFC 8489 §14.7: the CRC-32 is XOR'ed with this constant.
FINGERPRINT_XOR = 0x5354554E
_INTEGRITY_LENGTH = 20  # HMAC-SHA1, RFC 8489 §14.5
_INTEGRITY_ATTR_SIZE = 4 + _INTEGRITY_LENGTH
_FINGERPRINT_ATTR_SIZE = 8

_HEADER = struct.Struct("!HHI12s")
_ATTR_HEADER = struct.Struct("!HH")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_XOR_V4 = struct.Struct("!BBHI")


class StunParseError(ValueError):
    """The remote peer sent bytes that are not a well-formed STUN message (or attribute value)."""


class StunMethod(IntEnum):
    """STUN methods in use here (RFC 8489 §18.2)."""

    BINDING = 0x001


class StunClass(IntEnum):
    """The two class bits C1 C0 (RFC 8489 §5)."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS = 0b10
    ERROR = 0b11


class StunAttr(IntEnum):
    """Attribute types (RFC 8489 §18.3, RFC 8445 §16.1, Chromium's GOOG-NETWORK-INFO)."""

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    XOR_MAPPED_ADDRESS = 0x0020
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    SOFTWARE = 0x8022
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A
    GOOG_NETWORK_INFO = 0xC057


def is_comprehension_required(attr_type: int) -> bool:
    """RFC 8489 §14: types 0x0000-0x7FFF must be understood by the receiver."""
    return attr_type < 0x8000


# ---------------------------------------------------------------------------------------------
# Demultiplexing and message type (RFC 7983 §7, RFC 8489 §5)


def is_stun(data: bytes) -> bool:
    """Cheap demux test: first byte 0..3 (RFC 7983 §7) and the magic cookie at bytes 4..8."""
    return len(data) >= HEADER_LENGTH and data[0] < 4 and data[4:8] == _COOKIE_BYTES


def _encode_type(method: int, message_class: int) -> int:
    # RFC 8489 §5: M11..M7 C1 M6..M4 C0 M3..M0
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((message_class & 0b01) << 4)
        | ((message_class & 0b10) << 7)
    )


def _decode_type(message_type: int) -> tuple[int, int]:
    method = (message_type & 0x000F) | ((message_type & 0x00E0) >> 1) | ((message_type & 0x3E00) >> 2)
    message_class = ((message_type >> 4) & 0b01) | ((message_type >> 7) & 0b10)
    return method, message_class


def new_transaction_id() -> bytes:
    """RFC 8489 §5: 96 bits, uniformly random."""
    return secrets.token_bytes(12)


# ---------------------------------------------------------------------------------------------
# Attribute value codecs


def _pack_ip(host: str) -> tuple[int, bytes]:
    """Return (family, packed address); IPv4-mapped IPv6 addresses become IPv4."""
    host = host.split("%", 1)[0]  # drop an IPv6 zone index
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"not an IP address: {host!r}") from exc
    if isinstance(ip, ipaddress.IPv4Address):
        return 0x01, ip.packed
    if ip.ipv4_mapped is not None:
        return 0x01, ip.ipv4_mapped.packed
    return 0x02, ip.packed


def _ipv6_text(packed: bytes) -> str:
    """RFC 5952 text, with the IPv4-mapped and IPv4-compatible forms written as inet_ntop does."""
    if packed[:10] == bytes(10):
        if packed[10:12] == b"\xff\xff":
            return "::ffff:" + str(ipaddress.IPv4Address(packed[12:]))
        if packed[10:12] == b"\0\0" and packed[12:14] != b"\0\0":
            return "::" + str(ipaddress.IPv4Address(packed[12:]))
    return str(ipaddress.IPv6Address(packed))


def pack_address(addr: Address) -> bytes:
    """MAPPED-ADDRESS value (RFC 8489 §14.1)."""
    family, packed = _pack_ip(addr[0])
    return struct.pack("!BBH", 0, family, addr[1]) + packed


def unpack_address(value: bytes) -> Address:
    """Decode a MAPPED-ADDRESS value (RFC 8489 §14.1)."""
    if len(value) < 4:
        raise StunParseError("address attribute too short")
    family, port = value[1], int.from_bytes(value[2:4], "big")
    if family == 0x01 and len(value) == 8:
        return str(ipaddress.IPv4Address(value[4:8])), port
    if family == 0x02 and len(value) == 20:
        return _ipv6_text(value[4:20]), port
    raise StunParseError(f"bad address family {family} or length {len(value)}")


def _xor_bytes(data: bytes, key: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(key[: len(data)], "big")).to_bytes(len(data), "big")


def pack_xor_address(addr: Address, transaction_id: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS value (RFC 8489 §14.2): port XOR top of cookie, address XOR cookie||txid."""
    family, packed = _pack_ip(addr[0])
    port = addr[1] ^ (MAGIC_COOKIE >> 16)
    if family == 0x01:
        return _XOR_V4.pack(0, family, port, int.from_bytes(packed, "big") ^ MAGIC_COOKIE)
    return struct.pack("!BBH", 0, family, port) + _xor_bytes(packed, _COOKIE_BYTES + transaction_id)


def unpack_xor_address(value: bytes, transaction_id: bytes) -> Address:
    """Decode an XOR-MAPPED-ADDRESS value (RFC 8489 §14.2)."""
    if len(value) < 4:
        raise StunParseError("address attribute too short")
    plain = value[:2] + (int.from_bytes(value[2:4], "big") ^ (MAGIC_COOKIE >> 16)).to_bytes(2, "big")
    return unpack_address(plain + _xor_bytes(value[4:], _COOKIE_BYTES + transaction_id))


def pack_error_code(code: int, reason: str) -> bytes:
    """ERROR-CODE value (RFC 8489 §14.8): class = hundreds digit, number = code mod 100."""
    if not 300 <= code <= 699:
        raise ValueError(f"error code out of range: {code}")
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode("utf-8")


def unpack_error_code(value: bytes) -> tuple[int, str]:
    """Decode an ERROR-CODE value into (code, reason phrase)."""
    if len(value) < 4:
        raise StunParseError("ERROR-CODE too short")
    code = (value[2] & 0x07) * 100 + value[3]
    try:
        return code, value[4:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StunParseError("ERROR-CODE reason is not UTF-8") from exc


def pack_unknown_attributes(types: Iterable[int]) -> bytes:
    """UNKNOWN-ATTRIBUTES value (RFC 8489 §14.9): a list of 16-bit types."""
    return b"".join(t.to_bytes(2, "big") for t in types)


def unpack_unknown_attributes(value: bytes) -> tuple[int, ...]:
    """Decode an UNKNOWN-ATTRIBUTES value."""
    if len(value) % 2:
        raise StunParseError("UNKNOWN-ATTRIBUTES length is odd")
    return tuple(int.from_bytes(value[i : i + 2], "big") for i in range(0, len(value), 2))


def _decode_text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StunParseError(f"{what} is not UTF-8") from exc


# ---------------------------------------------------------------------------------------------
# Raw-bytes walking, integrity and fingerprint (RFC 8489 §14.5, §14.7)

# Plain ints for the hot loops (IntEnum member lookups cost more than a global).
_MI = 0x0008
_FP = 0x8028
_MI_HEADER = _ATTR_HEADER.pack(_MI, _INTEGRITY_LENGTH)
_FP_HEADER = _ATTR_HEADER.pack(_FP, 4)
_CLASSES = (StunClass.REQUEST, StunClass.INDICATION, StunClass.SUCCESS, StunClass.ERROR)


def _check_header(data: bytes) -> None:
    if len(data) < HEADER_LENGTH:
        raise StunParseError("shorter than a STUN header")
    if data[0] & 0xC0:
        raise StunParseError("the two leading bits are not zero")
    if data[4:8] != _COOKIE_BYTES:
        raise StunParseError("no magic cookie")
    length = (data[2] << 8) | data[3]
    if length & 3:
        raise StunParseError("message length is not a multiple of 4")
    if len(data) != HEADER_LENGTH + length:
        raise StunParseError("message length does not match the datagram")


def _walk(data: bytes) -> tuple[list[Attribute], int, int]:
    """Attributes in order, plus the offsets of MESSAGE-INTEGRITY and FINGERPRINT (-1 if absent).

    The header must have been checked. Attributes after MESSAGE-INTEGRITY other than FINGERPRINT
    are dropped: RFC 8489 §14.5 says to ignore them. FINGERPRINT must be last (§14.7).
    """
    attributes: list[Attribute] = []
    integrity_at = fingerprint_at = -1
    pos, end = HEADER_LENGTH, len(data)
    unpack_from = _ATTR_HEADER.unpack_from
    while pos < end:
        if fingerprint_at >= 0:
            raise StunParseError("attribute after FINGERPRINT")
        if pos + 4 > end:
            raise StunParseError("truncated attribute header")
        attr_type, length = unpack_from(data, pos)
        value_end = pos + 4 + length
        if value_end > end:
            raise StunParseError(f"attribute 0x{attr_type:04x} overruns the message")
        if attr_type == _FP:
            if length != 4:
                raise StunParseError("FINGERPRINT length is not 4")
            fingerprint_at = pos
            attributes.append((attr_type, data[pos + 4 : value_end]))
        elif integrity_at < 0:
            if attr_type == _MI:
                if length != _INTEGRITY_LENGTH:
                    raise StunParseError("MESSAGE-INTEGRITY length is not 20")
                integrity_at = pos
            attributes.append((attr_type, data[pos + 4 : value_end]))
        pos = value_end + (-length & 3)
    if pos != end:
        raise StunParseError("attribute padding overruns the message")
    return attributes, integrity_at, fingerprint_at


def _integrity(data: bytes, end: int, key: bytes) -> bytes:
    # RFC 8489 §14.5: HMAC-SHA1 over the message up to the attribute, with the header length
    # field set as if MESSAGE-INTEGRITY were the last attribute.
    length = (end - HEADER_LENGTH + _INTEGRITY_ATTR_SIZE).to_bytes(2, "big")
    return hmac.digest(key, data[:2] + length + data[4:end], "sha1")


def _fingerprint(data: bytes, end: int) -> int:
    # RFC 8489 §14.7: CRC-32 of the message up to the attribute, length field covering it.
    length = (end - HEADER_LENGTH + _FINGERPRINT_ATTR_SIZE).to_bytes(2, "big")
    return zlib.crc32(data[:2] + length + data[4:end]) ^ FINGERPRINT_XOR


def _integrity_ok(data: bytes, at: int, key: bytes) -> bool:
    return at >= 0 and hmac.compare_digest(_integrity(data, at, key), data[at + 4 : at + 24])


def _fingerprint_ok(data: bytes, at: int) -> bool:
    return at >= 0 and _fingerprint(data, at) == int.from_bytes(data[at + 4 : at + 8], "big")


def _offsets(data: bytes) -> tuple[int, int]:
    try:
        _check_header(data)
        _, integrity_at, fingerprint_at = _walk(data)
    except StunParseError:
        return -1, -1
    return integrity_at, fingerprint_at


def verify_integrity(data: bytes, key: bytes) -> bool:
    """Check the MESSAGE-INTEGRITY of raw message bytes against `key`.

    For short-term credentials (ICE) the key is the password's UTF-8 bytes (RFC 8489 §9.1.1).
    A missing attribute or a malformed message fails the check.
    """
    return _integrity_ok(data, _offsets(data)[0], key)


def verify_fingerprint(data: bytes) -> bool:
    """Check that FINGERPRINT is present as the last attribute and matches (RFC 8489 §14.7)."""
    return _fingerprint_ok(data, _offsets(data)[1])


def encode_message(
    method: int,
    message_class: int,
    transaction_id: bytes,
    attributes: Iterable[Attribute],
    integrity_key: bytes | None = None,
    fingerprint: bool = False,
) -> bytes:
    """Encode a message from raw attributes, appending MESSAGE-INTEGRITY and/or FINGERPRINT.

    The attributes are written as given (zero padding to 4 bytes, RFC 8489 §14); the caller
    must not include MESSAGE-INTEGRITY or FINGERPRINT among them.
    """
    if len(transaction_id) != 12:
        raise ValueError("transaction id must be 12 bytes")
    parts = []
    for attr_type, value in attributes:
        parts.append(_ATTR_HEADER.pack(attr_type, len(value)))
        parts.append(value)
        parts.append(b"\x00" * (-len(value) & 3))
    body = b"".join(parts)
    message_type = _encode_type(method, message_class)
    length = len(body)
    if integrity_key is not None:
        # RFC 8489 §14.5: the length field already counts the MESSAGE-INTEGRITY attribute.
        length += _INTEGRITY_ATTR_SIZE
        header = _HEADER.pack(message_type, length, MAGIC_COOKIE, transaction_id)
        body += _MI_HEADER + hmac.digest(integrity_key, header + body, "sha1")
    if fingerprint:
        # RFC 8489 §14.7: CRC-32 over everything before it, length field counting it.
        length += _FINGERPRINT_ATTR_SIZE
        header = _HEADER.pack(message_type, length, MAGIC_COOKIE, transaction_id)
        return header + body + _FP_HEADER + _U32.pack(zlib.crc32(header + body) ^ FINGERPRINT_XOR)
    return _HEADER.pack(message_type, length, MAGIC_COOKIE, transaction_id) + body


# ---------------------------------------------------------------------------------------------
# The message


@dataclass(frozen=True, slots=True)
class StunMessage:
    """A STUN message: attributes are raw ``(type, value)`` pairs in wire order.

    A parsed message also remembers the bytes it came from (not part of equality), so that
    `check_integrity` and `check_fingerprint` verify exactly what was received.
    """

    method: int
    message_class: StunClass
    transaction_id: bytes
    attributes: tuple[Attribute, ...] = ()
    raw: bytes | None = field(default=None, compare=False, repr=False)
    integrity_offset: int = field(default=-1, compare=False, repr=False)
    fingerprint_offset: int = field(default=-1, compare=False, repr=False)

    # -- parsing --------------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> StunMessage:
        """Parse one STUN message; raise `StunParseError` on anything malformed.

        Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are dropped, as RFC 8489
        §14.5 says they must be ignored; anything after FINGERPRINT is an error (§14.7).
        Integrity and fingerprint values are *not* checked here: use `check_integrity` /
        `check_fingerprint` (or `verify_integrity` / `verify_fingerprint` on the bytes).
        """
        data = bytes(data)
        _check_header(data)
        attributes, integrity_at, fingerprint_at = _walk(data)
        message_type = (data[0] << 8) | data[1]
        method, message_class = _decode_type(message_type)
        return cls(
            method,
            _CLASSES[message_class],
            data[8:20],
            tuple(attributes),
            data,
            integrity_at,
            fingerprint_at,
        )

    def check_integrity(self, key: bytes) -> bool:
        """MESSAGE-INTEGRITY of the received bytes verifies with `key` (False if not parsed)."""
        return self.raw is not None and _integrity_ok(self.raw, self.integrity_offset, key)

    def check_fingerprint(self) -> bool:
        """FINGERPRINT of the received bytes is present and right (False if not parsed)."""
        return self.raw is not None and _fingerprint_ok(self.raw, self.fingerprint_offset)

    # -- encoding -------------------------------------------------------------------------------

    def __bytes__(self) -> bytes:
        """Encode the attributes exactly as they are (no integrity or fingerprint added)."""
        return self._encode(self.attributes)

    def encode(self, integrity_key: bytes | None = None, fingerprint: bool = False) -> bytes:
        """Encode, replacing any MESSAGE-INTEGRITY/FINGERPRINT with freshly computed ones.

        RFC 8489 §14.5/§14.7: MESSAGE-INTEGRITY follows the other attributes, FINGERPRINT is last.
        """
        return encode_message(
            self.method,
            self.message_class,
            self.transaction_id,
            [a for a in self.attributes if a[0] != _MI and a[0] != _FP],
            integrity_key,
            fingerprint,
        )

    def _encode(self, attributes: Iterable[Attribute]) -> bytes:
        return encode_message(self.method, self.message_class, self.transaction_id, attributes)

    # -- attribute access -----------------------------------------------------------------------

    def get(self, attr_type: int) -> bytes | None:
        """Raw value of the first attribute of `attr_type`, or None."""
        for t, value in self.attributes:
            if t == attr_type:
                return value
        return None

    def __contains__(self, attr_type: int) -> bool:
        return any(t == attr_type for t, _ in self.attributes)

    def unknown_required(self, known: frozenset[int]) -> tuple[int, ...]:
        """Comprehension-required attribute types not in `known` (RFC 8489 §6.3)."""
        return tuple(t for t, _ in self.attributes if t < 0x8000 and t not in known)

    @property
    def username(self) -> str | None:
        value = self.get(StunAttr.USERNAME)
        return None if value is None else _decode_text(value, "USERNAME")

    @property
    def software(self) -> str | None:
        value = self.get(StunAttr.SOFTWARE)
        return None if value is None else _decode_text(value, "SOFTWARE")

    @property
    def priority(self) -> int | None:
        return self._u32(StunAttr.PRIORITY)

    @property
    def fingerprint(self) -> int | None:
        return self._u32(StunAttr.FINGERPRINT)

    @property
    def message_integrity(self) -> bytes | None:
        return self.get(StunAttr.MESSAGE_INTEGRITY)

    @property
    def use_candidate(self) -> bool:
        return StunAttr.USE_CANDIDATE in self

    @property
    def ice_controlling(self) -> int | None:
        """Tie-breaker of ICE-CONTROLLING (RFC 8445 §16.1), or None."""
        return self._u64(StunAttr.ICE_CONTROLLING)

    @property
    def ice_controlled(self) -> int | None:
        """Tie-breaker of ICE-CONTROLLED (RFC 8445 §16.1), or None."""
        return self._u64(StunAttr.ICE_CONTROLLED)

    @property
    def mapped_address(self) -> Address | None:
        value = self.get(StunAttr.MAPPED_ADDRESS)
        return None if value is None else unpack_address(value)

    @property
    def xor_mapped_address(self) -> Address | None:
        value = self.get(StunAttr.XOR_MAPPED_ADDRESS)
        return None if value is None else unpack_xor_address(value, self.transaction_id)

    @property
    def error_code(self) -> tuple[int, str] | None:
        value = self.get(StunAttr.ERROR_CODE)
        return None if value is None else unpack_error_code(value)

    @property
    def unknown_attributes(self) -> tuple[int, ...] | None:
        value = self.get(StunAttr.UNKNOWN_ATTRIBUTES)
        return None if value is None else unpack_unknown_attributes(value)

    def _u32(self, attr_type: int) -> int | None:
        value = self.get(attr_type)
        if value is None:
            return None
        if len(value) != 4:
            raise StunParseError(f"attribute 0x{attr_type:04x} is not 32 bits")
        return int(_U32.unpack(value)[0])

    def _u64(self, attr_type: int) -> int | None:
        value = self.get(attr_type)
        if value is None:
            return None
        if len(value) != 8:
            raise StunParseError(f"attribute 0x{attr_type:04x} is not 64 bits")
        return int(_U64.unpack(value)[0])
