"""ICE-lite responder (RFC 8445 §2.5, §7.3) with consent freshness (RFC 7675), sans-I/O.

Theory of operation
-------------------
The SFU is an ICE-lite agent: it has host candidates only, never sends checks and is always
controlled. The browser (the controlling full agent) sends Binding requests; we answer the
authentic ones and learn from them:

* a valid check (right USERNAME, MESSAGE-INTEGRITY with our password, FINGERPRINT) makes its
  source address *valid*: media from it may be accepted. The first one is remembered as the
  candidate address, used to send until something is nominated;
* a valid check carrying USE-CANDIDATE nominates its source: that becomes the *selected* address
  (RFC 8445 §7.3.2, §8.2). Works for aggressive and regular nomination alike. A later
  nomination from another address (network change, ICE restart) moves the selection;
* every valid check from the selected address refreshes consent (RFC 7675 §5.1). After
  `disconnected_after` seconds of silence we report `IceDisconnected`, on the next check
  `IceReconnected`; after `consent_timeout` seconds `IceConsentExpired`: stop sending.

Anything that fails authentication is dropped silently and counted in `stats`. RFC 8489 §9.1.3
would answer 400/401; on the one shared port such answers only help scanners and reflection, and
a peer holding the right credentials never needs them.

The engine never touches sockets or clocks: the caller passes each datagram with its source
address and the current time, sends what `receive_stun` returns, and drives `get_timer` /
`handle_timer`. Events come out of `next_event`.
"""

from __future__ import annotations

import secrets
import string
import struct
from collections import deque
from dataclasses import dataclass

from hubbub.proto.stun import (
    HEADER_LENGTH,
    StunAttr,
    StunClass,
    StunMessage,
    StunMethod,
    StunParseError,
    encode_message,
    is_stun,
    pack_error_code,
    pack_unknown_attributes,
    pack_xor_address,
)

__all__ = [
    "DEFAULT_CONSENT_TIMEOUT",
    "DEFAULT_DISCONNECTED_AFTER",
    "IceConnected",
    "IceConsentExpired",
    "IceDisconnected",
    "IceEvent",
    "IceLiteConnection",
    "IceReconnected",
    "IceSelectedAddressChanged",
    "IceStats",
    "generate_password",
    "generate_ufrag",
    "ufrag_of",
]

Address = tuple[str, int]

DEFAULT_CONSENT_TIMEOUT = 30.0  # RFC 7675 §5.1
DEFAULT_DISCONNECTED_AFTER = 12.0  # peers send consent checks every 5 s ± 20% (RFC 7675 §5.1)
# Bound the per-connection memory an authenticated but misbehaving peer can make us use.
MAX_VALID_ADDRESSES = 16

# RFC 8445 §5.3 / RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/"
_ICE_CHARS = string.ascii_letters + string.digits + "+/"

# Comprehension-required attributes a Binding request may carry that we understand (RFC 8489 §6.3).
_KNOWN_REQUIRED = frozenset(
    {
        StunAttr.MAPPED_ADDRESS,
        StunAttr.USERNAME,
        StunAttr.MESSAGE_INTEGRITY,
        StunAttr.ERROR_CODE,
        StunAttr.UNKNOWN_ATTRIBUTES,
        StunAttr.XOR_MAPPED_ADDRESS,
        StunAttr.PRIORITY,
        StunAttr.USE_CANDIDATE,
    }
)
_BINDING_REQUEST_TYPE = b"\x00\x01"
# Plain ints for the per-request loop.
_USERNAME = int(StunAttr.USERNAME)
_USE_CANDIDATE = int(StunAttr.USE_CANDIDATE)
_PRIORITY = int(StunAttr.PRIORITY)
_ICE_CONTROLLING = int(StunAttr.ICE_CONTROLLING)
_ICE_CONTROLLED = int(StunAttr.ICE_CONTROLLED)
_XOR_MAPPED_ADDRESS = int(StunAttr.XOR_MAPPED_ADDRESS)
_BINDING = int(StunMethod.BINDING)
_SUCCESS = int(StunClass.SUCCESS)
_ERROR = int(StunClass.ERROR)
_ATTR_HEADER = struct.Struct("!HH")


def generate_ufrag() -> str:
    """8 ice-chars, 48 random bits (RFC 8445 §5.3 asks for at least 24)."""
    return "".join(secrets.choice(_ICE_CHARS) for _ in range(8))


def generate_password() -> str:
    """24 ice-chars, 144 random bits (RFC 8445 §5.3 asks for at least 128)."""
    return "".join(secrets.choice(_ICE_CHARS) for _ in range(24))


def ufrag_of(data: bytes) -> str | None:
    """Local ufrag (USERNAME before ':') of a Binding request, without a full parse.

    For the one shared UDP port: the transport maps a first packet from an unknown address to
    the connection that owns this ufrag. The request is *not* authenticated here.
    """
    if not is_stun(data) or data[0:2] != _BINDING_REQUEST_TYPE:
        return None
    pos, end = HEADER_LENGTH, min(len(data), HEADER_LENGTH + int.from_bytes(data[2:4], "big"))
    while pos + 4 <= end:
        attr_type, length = _ATTR_HEADER.unpack_from(data, pos)
        if attr_type == StunAttr.USERNAME:
            username = data[pos + 4 : pos + 4 + length]
            colon = username.find(b":")
            if colon <= 0 or pos + 4 + length > end:
                return None
            try:
                return username[:colon].decode("utf-8")
            except UnicodeDecodeError:
                return None
        pos += 4 + length + (-length & 3)
    return None


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class IceConnected:
    """The first nomination: media may flow to `addr`."""

    addr: Address


@dataclass(frozen=True, slots=True)
class IceSelectedAddressChanged:
    """A nomination from a new address moved the selected address (network change, ICE restart)."""

    old: Address
    new: Address


@dataclass(frozen=True, slots=True)
class IceDisconnected:
    """No valid check from the selected address for `disconnected_after` seconds."""

    addr: Address


@dataclass(frozen=True, slots=True)
class IceReconnected:
    """Checks resumed after `IceDisconnected`."""

    addr: Address


@dataclass(frozen=True, slots=True)
class IceConsentExpired:
    """RFC 7675 §5.1: consent lost; stop sending to `addr`."""

    addr: Address


IceEvent = IceConnected | IceSelectedAddressChanged | IceDisconnected | IceReconnected | IceConsentExpired


@dataclass(slots=True)
class IceStats:
    """Counters; every datagram given to `receive_stun` lands in exactly one outcome counter."""

    requests_ok: int = 0  # answered with a success response
    indications: int = 0  # Binding indications (keepalives, RFC 8445 §11): no answer
    dropped_malformed: int = 0  # not STUN, unparsable, or a bad attribute value
    dropped_unexpected: int = 0  # not a Binding request (responses, other methods)
    dropped_fingerprint: int = 0
    dropped_username: int = 0
    dropped_integrity: int = 0
    error_unknown_attribute: int = 0  # answered 420
    error_role_conflict: int = 0  # answered 487
    error_bad_request: int = 0  # answered 400: authenticated, but a known attribute is malformed


class _Credentials:
    """One generation of ICE credentials, with the bytes the hot path compares precomputed."""

    __slots__ = ("_exact", "_prefix", "key", "local_pwd", "local_ufrag", "remote_pwd", "remote_ufrag")

    def __init__(self, local_ufrag: str, local_pwd: str, remote_ufrag: str | None, remote_pwd: str | None):
        self.local_ufrag = local_ufrag
        self.local_pwd = local_pwd
        self.remote_ufrag = remote_ufrag
        self.remote_pwd = remote_pwd
        self.key = local_pwd.encode("utf-8")  # RFC 8489 §9.1.1 short-term key
        # RFC 8445 §7.3: USERNAME = "<our ufrag>:<their ufrag>"
        self._prefix = f"{local_ufrag}:".encode()
        self._exact = None if remote_ufrag is None else self._prefix + remote_ufrag.encode("utf-8")

    def username_matches(self, username: bytes) -> bool:
        if self._exact is not None:
            return username == self._exact
        return username.startswith(self._prefix)


class IceLiteConnection:
    """ICE-lite state of one peer connection (one component, UDP)."""

    def __init__(
        self,
        local_ufrag: str,
        local_pwd: str,
        remote_ufrag: str | None = None,
        remote_pwd: str | None = None,
        *,
        consent_timeout: float = DEFAULT_CONSENT_TIMEOUT,
        disconnected_after: float = DEFAULT_DISCONNECTED_AFTER,
    ) -> None:
        self._credentials = _Credentials(local_ufrag, local_pwd, remote_ufrag, remote_pwd)
        # Credentials of the generation before an ICE restart, accepted until a nomination
        # arrives under the new ones, so consent on the old path is not lost meanwhile.
        self._previous: _Credentials | None = None
        self.consent_timeout = consent_timeout
        self.disconnected_after = disconnected_after
        self.stats = IceStats()
        self._events: deque[IceEvent] = deque()
        self._valid: dict[Address, None] = {}  # ordered set, oldest first
        self._candidate: Address | None = None
        self._selected: Address | None = None
        self._last_consent = 0.0
        self._disconnected = False
        self._expired = False

    # -- state ----------------------------------------------------------------------------------

    @property
    def local_ufrag(self) -> str:
        return self._credentials.local_ufrag

    @property
    def local_pwd(self) -> str:
        return self._credentials.local_pwd

    @property
    def remote_ufrag(self) -> str | None:
        return self._credentials.remote_ufrag

    @property
    def remote_pwd(self) -> str | None:
        return self._credentials.remote_pwd

    @property
    def local_ufrags(self) -> tuple[str, ...]:
        """Every local ufrag accepted now (two while an ICE restart is in progress)."""
        if self._previous is None:
            return (self._credentials.local_ufrag,)
        return (self._credentials.local_ufrag, self._previous.local_ufrag)

    @property
    def selected_address(self) -> Address | None:
        """The nominated address, or None before the first USE-CANDIDATE."""
        return self._selected

    @property
    def remote_address(self) -> Address | None:
        """Where to send: the selected address, else the first validated one; None after expiry."""
        if self._expired:
            return None
        return self._selected if self._selected is not None else self._candidate

    @property
    def consent_expired(self) -> bool:
        return self._expired

    def is_valid_address(self, addr: Address) -> bool:
        """True if a valid check came from `addr`: media from it may be accepted."""
        return addr in self._valid

    # -- input ----------------------------------------------------------------------------------

    def receive_stun(self, data: bytes, addr: Address, now: float) -> bytes | None:
        """Handle one datagram from `addr`; return the response to send back to `addr`, if any.

        Never raises on bad input: it is dropped and counted in `stats`.
        """
        stats = self.stats
        try:
            if not is_stun(data):
                raise StunParseError("not STUN")
            request = StunMessage.parse(data)
        except StunParseError:
            stats.dropped_malformed += 1
            return None
        if request.method != StunMethod.BINDING:
            stats.dropped_unexpected += 1
            return None
        if request.message_class == StunClass.INDICATION:
            stats.indications += 1
            return None
        if request.message_class != StunClass.REQUEST:
            stats.dropped_unexpected += 1
            return None

        # RFC 8445 §7: connectivity checks MUST carry FINGERPRINT (RFC 8489 §14.7).
        if not request.check_fingerprint():
            stats.dropped_fingerprint += 1
            return None
        # One pass over the attributes (first occurrence of each counts, RFC 8489 §14).
        username: bytes | None = None
        nominate = controlled = malformed = False
        unknown: list[int] = []
        for attr_type, value in request.attributes:
            if attr_type == _USERNAME:
                if username is None:
                    username = value
            elif attr_type == _USE_CANDIDATE:
                nominate = True
            elif attr_type == _PRIORITY:  # RFC 8445 §7.1.1; a lite agent has no use for the value
                malformed |= len(value) != 4
            elif attr_type == _ICE_CONTROLLING:
                malformed |= len(value) != 8
            elif attr_type == _ICE_CONTROLLED:
                controlled = True
                malformed |= len(value) != 8
            elif attr_type < 0x8000 and attr_type not in _KNOWN_REQUIRED:
                unknown.append(attr_type)

        # RFC 8489 §9.1.3: authenticate with short-term credentials (failures: no answer).
        credentials = self._match(username)
        if credentials is None:
            stats.dropped_username += 1
            return None
        key = credentials.key
        if not request.check_integrity(key):
            stats.dropped_integrity += 1
            return None

        # RFC 8489 §6.3, §6.3.1: after authentication, unknown comprehension-required
        # attributes -> 420 with UNKNOWN-ATTRIBUTES.
        if unknown:
            stats.error_unknown_attribute += 1
            return _error(request, 420, "Unknown Attribute", key, pack_unknown_attributes(unknown))
        if malformed:
            # RFC 8489 §6.3.1: an authenticated but malformed request -> 400.
            stats.error_bad_request += 1
            return _error(request, 400, "Bad Request", key)
        if controlled:
            # RFC 8445 §7.3.1.1: we are controlled and cannot switch (lite), so a controlled
            # peer is told 487 and must take the controlling role.
            stats.error_role_conflict += 1
            return _error(request, 487, "Role Conflict", key)

        txid = request.transaction_id
        try:
            xor_address = pack_xor_address(addr, txid)
        except ValueError:  # the transport handed us an address that is not an IP literal
            stats.dropped_malformed += 1
            return None
        # RFC 8445 §7.3 / RFC 8489 §6.3.1.1: success with XOR-MAPPED-ADDRESS of the source,
        # MESSAGE-INTEGRITY with the same password (§9.1.4) and FINGERPRINT.
        response = encode_message(
            _BINDING, _SUCCESS, txid, ((_XOR_MAPPED_ADDRESS, xor_address),), key, fingerprint=True
        )
        stats.requests_ok += 1
        self._on_valid_check(addr, nominate, credentials is self._credentials, now)
        return response

    def _match(self, username: bytes | None) -> _Credentials | None:
        if username is None:
            return None
        if self._credentials.username_matches(username):
            return self._credentials
        if self._previous is not None and self._previous.username_matches(username):
            return self._previous
        return None

    def _on_valid_check(self, addr: Address, nominate: bool, current: bool, now: float) -> None:
        self._remember(addr)
        if nominate:
            # RFC 8445 §7.3.2 / §8.2: the controlling agent nominated this pair. A nomination
            # under the new credentials completes an ICE restart.
            if current:
                self._previous = None
            if self._selected is None or self._expired:
                self._selected = addr
                self._expired = self._disconnected = False
                self._events.append(IceConnected(addr))
            elif addr != self._selected:
                old, self._selected = self._selected, addr
                self._events.append(IceSelectedAddressChanged(old, addr))
        if addr == self._consent_address and not self._expired:
            # RFC 7675 §5.1: an authenticated check on the pair in use renews consent.
            self._last_consent = now
            if self._disconnected:
                self._disconnected = False
                self._events.append(IceReconnected(addr))

    def _remember(self, addr: Address) -> None:
        if self._candidate is None:
            self._candidate = addr
        if addr in self._valid:
            return
        if len(self._valid) >= MAX_VALID_ADDRESSES:
            for old in self._valid:
                if old != self._selected and old != self._candidate:
                    del self._valid[old]
                    break
        self._valid[addr] = None

    # -- ICE restart ----------------------------------------------------------------------------

    def restart(self, local_ufrag: str, local_pwd: str, remote_ufrag: str | None, remote_pwd: str | None) -> None:
        """RFC 8445 §9: new credentials; the selected address stays until a new nomination."""
        self._previous = self._credentials
        self._credentials = _Credentials(local_ufrag, local_pwd, remote_ufrag, remote_pwd)

    def set_remote_credentials(self, remote_ufrag: str, remote_pwd: str) -> None:
        """Learn the remote ufrag/pwd when the answer arrives after the first checks."""
        c = self._credentials
        self._credentials = _Credentials(c.local_ufrag, c.local_pwd, remote_ufrag, remote_pwd)

    # -- timers and events ----------------------------------------------------------------------

    @property
    def _consent_address(self) -> Address | None:
        """The pair media uses, so the one consent is tracked on: the selected one, else the
        first valid one (RFC 8445 §12.1: data MAY flow on a valid pair before selection)."""
        return self._selected if self._selected is not None else self._candidate

    def get_timer(self) -> float | None:
        """When `handle_timer` should next run, or None when nothing is pending."""
        if self._consent_address is None or self._expired:
            return None
        if not self._disconnected and self.disconnected_after < self.consent_timeout:
            return self._last_consent + self.disconnected_after
        return self._last_consent + self.consent_timeout

    def handle_timer(self, now: float) -> None:
        pair = self._consent_address
        if pair is None or self._expired:
            return
        silence = now - self._last_consent
        if not self._disconnected and silence >= self.disconnected_after:
            self._disconnected = True
            self._events.append(IceDisconnected(pair))
        if silence >= self.consent_timeout:
            self._expired = True
            self._events.append(IceConsentExpired(pair))

    def next_event(self) -> IceEvent | None:
        return self._events.popleft() if self._events else None


def _error(request: StunMessage, code: int, reason: str, key: bytes, unknown: bytes | None = None) -> bytes:
    # RFC 8489 §9.1.4: responses to an authenticated request carry MESSAGE-INTEGRITY.
    attributes = [(int(StunAttr.ERROR_CODE), pack_error_code(code, reason))]
    if unknown is not None:
        attributes.append((int(StunAttr.UNKNOWN_ATTRIBUTES), unknown))
    return encode_message(_BINDING, _ERROR, request.transaction_id, attributes, key, fingerprint=True)
