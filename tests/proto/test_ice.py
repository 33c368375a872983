"""ICE-lite engine: aioice interop, authentication, nomination, consent, restart, fuzzing."""

from __future__ import annotations

import asyncio
import dataclasses
import string
import struct
from pathlib import Path
from typing import cast

import pytest
from aioice import Candidate
from aioice import ice as aioice_ice
from aioice import stun as aioice_stun
from hypothesis import given
from hypothesis import strategies as st

from hubbub.proto.ice import (
    DEFAULT_DISCONNECTED_AFTER,
    IceConnected,
    IceConsentExpired,
    IceDisconnected,
    IceEvent,
    IceLiteConnection,
    IceReconnected,
    IceSelectedAddressChanged,
    generate_password,
    generate_ufrag,
    ufrag_of,
)
from hubbub.proto.stun import (
    StunAttr,
    StunClass,
    StunMessage,
    StunMethod,
    is_stun,
    verify_fingerprint,
    verify_integrity,
)

LOCAL_UFRAG, LOCAL_PWD = "srvU", "server-password-0123456789"
REMOTE_UFRAG, REMOTE_PWD = "cliU", "client-password-0123456789"
ADDR_A = ("192.0.2.10", 50000)
ADDR_B = ("198.51.100.20", 40000)


def request(
    username: str = f"{LOCAL_UFRAG}:{REMOTE_UFRAG}",
    password: str = LOCAL_PWD,
    *,
    use_candidate: bool = False,
    controlled: bool = False,
    fingerprint: bool = True,
) -> aioice_stun.Message:
    """A Binding request built by aioice, the implementation aiortc uses."""
    message = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
    message.attributes["USERNAME"] = username
    message.attributes["PRIORITY"] = 1853824767
    if controlled:
        message.attributes["ICE-CONTROLLED"] = 0x1122334455667788
    else:
        message.attributes["ICE-CONTROLLING"] = 0x1122334455667788
    if use_candidate:
        message.attributes["USE-CANDIDATE"] = None
    message.add_message_integrity(password.encode())
    if not fingerprint:
        del message.attributes["FINGERPRINT"]
    return message


def check(
    ice: IceLiteConnection,
    addr: tuple[str, int],
    now: float,
    username: str = f"{LOCAL_UFRAG}:{REMOTE_UFRAG}",
    password: str = LOCAL_PWD,
    *,
    use_candidate: bool = False,
    controlled: bool = False,
) -> bytes | None:
    req = request(username, password, use_candidate=use_candidate, controlled=controlled)
    return ice.receive_stun(bytes(req), addr, now)


def events(ice: IceLiteConnection) -> list[IceEvent]:
    out = []
    while (event := ice.next_event()) is not None:
        out.append(event)
    return out


def new_ice(**kwargs: float) -> IceLiteConnection:
    return IceLiteConnection(LOCAL_UFRAG, LOCAL_PWD, REMOTE_UFRAG, REMOTE_PWD, **kwargs)


# -- answering checks --------------------------------------------------------------------------


@pytest.mark.parametrize("addr", [ADDR_A, ("2001:db8::7", 61000)])
def test_aioice_request_gets_a_response_aioice_accepts(addr: tuple[str, int]) -> None:
    ice = new_ice()
    req = request(use_candidate=True)
    data = ice.receive_stun(bytes(req), addr, now=0.0)
    assert data is not None
    response = aioice_stun.parse_message(data)  # raises on a bad FINGERPRINT
    assert response.message_method == aioice_stun.Method.BINDING
    assert response.message_class == aioice_stun.Class.RESPONSE
    assert response.transaction_id == req.transaction_id
    assert response.attributes["XOR-MAPPED-ADDRESS"] == addr
    assert response.check_message_integrity(LOCAL_PWD.encode())
    assert not response.check_message_integrity(REMOTE_PWD.encode())
    assert verify_integrity(data, LOCAL_PWD.encode()) and verify_fingerprint(data)
    assert ice.stats.requests_ok == 1


def test_rfc5769_request_is_authenticated_with_its_credentials() -> None:
    # RFC 5769 §2.1, typed in from the RFC text (also checked field by field in test_stun.py).
    rfc5769_request = bytes.fromhex(
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
    ice = IceLiteConnection("evtj", "VOkJxbRl1RmTxUk/WvJxBt", "h6vY")
    # The RFC's request carries ICE-CONTROLLED: a lite agent answers 487 (RFC 8445 §7.3.1.1).
    data = ice.receive_stun(rfc5769_request, ADDR_A, 0.0)
    assert data is not None
    assert StunMessage.parse(data).error_code == (487, "Role Conflict")


def test_chromium_checks_regular_nomination() -> None:
    # Captured from Chromium 156 talking to this engine (see test_stun.py::test_chromium_capture).
    fixtures = Path(__file__).parent / "fixtures" / "stun"
    first = (fixtures / "chromium_binding_request.bin").read_bytes()
    nominating = (fixtures / "chromium_binding_request_nominating.bin").read_bytes()
    ice = IceLiteConnection("hbSrvU01", "hubbubFixturePassword012", "IP3z", "sqA0ekfvRjLgfUQUJ5aBXt5f")
    assert ufrag_of(first) == "hbSrvU01"
    response = ice.receive_stun(first, ("127.0.0.1", 40366), 0.0)
    assert response is not None
    parsed = StunMessage.parse(response)
    assert parsed.transaction_id == StunMessage.parse(first).transaction_id
    assert parsed.xor_mapped_address == ("127.0.0.1", 40366)
    assert parsed.check_integrity(b"hubbubFixturePassword012") and parsed.check_fingerprint()
    assert events(ice) == [] and ice.remote_address == ("127.0.0.1", 40366)
    assert ice.receive_stun(nominating, ("127.0.0.1", 40366), 0.1) is not None
    assert events(ice) == [IceConnected(("127.0.0.1", 40366))]
    # The same check under another remote ufrag (a stale session) is dropped.
    stale = IceLiteConnection("hbSrvU01", "hubbubFixturePassword012", "XXXX", None)
    assert stale.receive_stun(first, ("127.0.0.1", 40366), 0.0) is None


@pytest.mark.parametrize(
    ("kwargs", "counter"),
    [
        ({"password": "wrong-password-0123456789"}, "dropped_integrity"),
        ({"username": f"{LOCAL_UFRAG}:other"}, "dropped_username"),
        ({"username": f"other:{REMOTE_UFRAG}"}, "dropped_username"),
        ({"username": LOCAL_UFRAG}, "dropped_username"),
        ({"fingerprint": False}, "dropped_fingerprint"),
    ],
)
def test_bad_credentials_are_dropped_silently(kwargs: dict[str, object], counter: str) -> None:
    ice = new_ice()
    assert ice.receive_stun(bytes(request(**kwargs)), ADDR_A, 0.0) is None  # type: ignore[arg-type]
    stats = dataclasses.asdict(ice.stats)
    assert stats.pop(counter) == 1
    assert not any(stats.values())
    assert ice.remote_address is None and not ice.is_valid_address(ADDR_A)
    assert events(ice) == []


def test_missing_username_or_integrity() -> None:
    ice = new_ice()
    bare = StunMessage(StunMethod.BINDING, StunClass.REQUEST, bytes(12))
    assert ice.receive_stun(bare.encode(fingerprint=True), ADDR_A, 0.0) is None
    assert ice.stats.dropped_username == 1
    no_mi = StunMessage(StunMethod.BINDING, StunClass.REQUEST, bytes(12), ((StunAttr.USERNAME, b"srvU:cliU"),)).encode(
        fingerprint=True
    )
    assert ice.receive_stun(no_mi, ADDR_A, 0.0) is None
    assert ice.stats.dropped_integrity == 1


def test_unknown_remote_ufrag_accepts_any_remote_part() -> None:
    ice = IceLiteConnection(LOCAL_UFRAG, LOCAL_PWD)
    assert check(ice, ADDR_A, 0.0, username=f"{LOCAL_UFRAG}:whatever") is not None
    assert check(ice, ADDR_A, 0.0, username=f"{LOCAL_UFRAG}x:whatever") is None
    ice.set_remote_credentials("known", "pw")
    assert check(ice, ADDR_A, 0.0, username=f"{LOCAL_UFRAG}:whatever") is None
    assert check(ice, ADDR_A, 0.0, username=f"{LOCAL_UFRAG}:known") is not None


def test_indications_and_responses_get_no_answer() -> None:
    ice = new_ice()
    indication = StunMessage(StunMethod.BINDING, StunClass.INDICATION, bytes(12)).encode(fingerprint=True)
    assert ice.receive_stun(indication, ADDR_A, 0.0) is None
    assert ice.stats.indications == 1
    response = StunMessage(StunMethod.BINDING, StunClass.SUCCESS, bytes(12)).encode(fingerprint=True)
    assert ice.receive_stun(response, ADDR_A, 0.0) is None
    allocate = StunMessage(0x003, StunClass.REQUEST, bytes(12)).encode(fingerprint=True)
    assert ice.receive_stun(allocate, ADDR_A, 0.0) is None
    assert ice.stats.dropped_unexpected == 2
    assert ice.receive_stun(b"\x80" * 40, ADDR_A, 0.0) is None
    assert ice.stats.dropped_malformed == 1


def _our_request(attributes: tuple[tuple[int, bytes], ...], password: str = LOCAL_PWD) -> bytes:
    base = ((StunAttr.USERNAME, f"{LOCAL_UFRAG}:{REMOTE_UFRAG}".encode()),)
    return StunMessage(StunMethod.BINDING, StunClass.REQUEST, b"T" * 12, base + attributes).encode(
        password.encode(), fingerprint=True
    )


def test_unknown_comprehension_required_attribute_gets_420() -> None:
    ice = new_ice()
    data = ice.receive_stun(_our_request(((0x7001, b"abcd"), (0x0031, b""))), ADDR_A, 0.0)
    assert data is not None
    parsed = aioice_stun.parse_message(data)
    assert parsed.message_class == aioice_stun.Class.ERROR
    assert parsed.attributes["ERROR-CODE"][0] == 420
    assert parsed.check_message_integrity(LOCAL_PWD.encode())
    assert StunMessage.parse(data).unknown_attributes == (0x7001, 0x0031)
    assert ice.stats.error_unknown_attribute == 1 and ice.stats.requests_ok == 0
    assert not ice.is_valid_address(ADDR_A)
    # The same request unauthenticated gets nothing (authentication comes first, RFC 8489 §6.3).
    assert ice.receive_stun(_our_request(((0x7001, b"abcd"),), "bad"), ADDR_A, 0.0) is None


def test_comprehension_optional_attributes_are_ignored() -> None:
    # Chromium adds GOOG-NETWORK-INFO (0xC057) to its checks.
    ice = new_ice()
    attrs = (
        (StunAttr.GOOG_NETWORK_INFO, b"\x00\x01\x00\x0a"),
        (StunAttr.ICE_CONTROLLING, struct.pack("!Q", 7)),
        (StunAttr.USE_CANDIDATE, b""),
        (StunAttr.PRIORITY, struct.pack("!I", 1)),
    )
    data = ice.receive_stun(_our_request(attrs), ADDR_A, 0.0)
    assert data is not None and StunMessage.parse(data).xor_mapped_address == ADDR_A
    assert events(ice) == [IceConnected(ADDR_A)]


def test_malformed_known_attribute_gets_400() -> None:
    ice = new_ice()
    data = ice.receive_stun(_our_request(((StunAttr.PRIORITY, b"\x01\x02"),)), ADDR_A, 0.0)
    assert data is not None and StunMessage.parse(data).error_code == (400, "Bad Request")
    assert ice.stats.error_bad_request == 1


def test_role_conflict_487() -> None:
    ice = new_ice()
    data = check(ice, ADDR_A, 0.0, controlled=True, use_candidate=True)
    assert data is not None
    parsed = aioice_stun.parse_message(data)
    assert parsed.message_class == aioice_stun.Class.ERROR
    assert parsed.attributes["ERROR-CODE"] == (487, "Role Conflict")
    assert parsed.check_message_integrity(LOCAL_PWD.encode())
    assert ice.stats.error_role_conflict == 1
    assert ice.selected_address is None and events(ice) == []


# -- nomination and address changes -----------------------------------------------------------


def test_regular_nomination() -> None:
    ice = new_ice()
    assert check(ice, ADDR_A, 0.0) is not None
    assert events(ice) == []
    assert ice.is_valid_address(ADDR_A) and not ice.is_valid_address(ADDR_B)
    assert ice.remote_address == ADDR_A and ice.selected_address is None
    assert check(ice, ADDR_A, 0.1, use_candidate=True) is not None
    assert events(ice) == [IceConnected(ADDR_A)]
    assert ice.selected_address == ADDR_A
    assert check(ice, ADDR_A, 0.2, use_candidate=True) is not None
    assert events(ice) == []  # renominating the same address is not news


def test_aggressive_nomination_and_address_change() -> None:
    ice = new_ice()
    check(ice, ADDR_A, 0.0, use_candidate=True)
    assert events(ice) == [IceConnected(ADDR_A)]
    # A check from B without USE-CANDIDATE makes B valid but does not move the selection.
    check(ice, ADDR_B, 1.0)
    assert events(ice) == [] and ice.selected_address == ADDR_A and ice.is_valid_address(ADDR_B)
    check(ice, ADDR_B, 2.0, use_candidate=True)
    assert events(ice) == [IceSelectedAddressChanged(ADDR_A, ADDR_B)]
    assert ice.remote_address == ADDR_B


def test_events_are_immutable() -> None:
    event = IceConnected(ADDR_A)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.addr = ADDR_B  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


def test_valid_addresses_are_bounded() -> None:
    ice = new_ice()
    check(ice, ADDR_A, 0.0, use_candidate=True)
    for port in range(1, 100):
        check(ice, ("192.0.2.99", port), 0.0)
    assert ice.is_valid_address(ADDR_A)
    assert ice.is_valid_address(("192.0.2.99", 99))
    assert not ice.is_valid_address(("192.0.2.99", 1))


# -- consent freshness (RFC 7675) and disconnection ---------------------------------------------


def test_consent_expiry_with_manual_clock() -> None:
    ice = new_ice(consent_timeout=3.0, disconnected_after=1.0)
    assert ice.get_timer() is None
    check(ice, ADDR_A, 10.0, use_candidate=True)
    events(ice)
    assert ice.get_timer() == 11.0
    ice.handle_timer(10.5)
    assert events(ice) == []
    check(ice, ADDR_A, 10.8)  # consent refreshed
    assert ice.get_timer() == pytest.approx(11.8)
    ice.handle_timer(11.8)
    assert events(ice) == [IceDisconnected(ADDR_A)]
    assert ice.get_timer() == pytest.approx(13.8)
    check(ice, ADDR_A, 12.0)
    assert events(ice) == [IceReconnected(ADDR_A)]
    # Checks from another (valid) address do not renew consent for the selected one.
    check(ice, ADDR_B, 14.0)
    ice.handle_timer(14.0)
    assert events(ice) == [IceDisconnected(ADDR_A)]
    ice.handle_timer(14.99)
    assert events(ice) == []
    ice.handle_timer(15.0)
    assert events(ice) == [IceConsentExpired(ADDR_A)]
    assert ice.consent_expired and ice.remote_address is None and ice.get_timer() is None
    ice.handle_timer(100.0)
    assert events(ice) == []
    # A later nomination brings the connection back (a new path).
    check(ice, ADDR_B, 20.0, use_candidate=True)
    assert events(ice) == [IceConnected(ADDR_B)]
    assert not ice.consent_expired and ice.get_timer() == 21.0


def test_consent_is_tracked_on_the_valid_pair_before_any_nomination() -> None:
    """RFC 8445 §12.1: media may flow on a valid pair before selection, so consent (RFC 7675)
    is kept on it too: a client that vanishes before nominating is still detected."""
    ice = new_ice(consent_timeout=3.0, disconnected_after=1.0)
    check(ice, ADDR_A, 10.0)
    assert events(ice) == [] and ice.selected_address is None and ice.remote_address == ADDR_A
    assert ice.get_timer() == 11.0
    check(ice, ADDR_A, 10.5)
    assert ice.get_timer() == 11.5
    ice.handle_timer(11.5)
    assert events(ice) == [IceDisconnected(ADDR_A)]
    ice.handle_timer(13.5)
    assert events(ice) == [IceConsentExpired(ADDR_A)]
    assert ice.remote_address is None and ice.get_timer() is None
    check(ice, ADDR_A, 14.0, use_candidate=True)  # the nomination after all: a fresh start
    assert events(ice) == [IceConnected(ADDR_A)] and ice.remote_address == ADDR_A


def test_late_timer_reports_both_in_order() -> None:
    ice = new_ice()
    check(ice, ADDR_A, 0.0, use_candidate=True)
    events(ice)
    assert ice.get_timer() == DEFAULT_DISCONNECTED_AFTER
    ice.handle_timer(31.0)
    assert events(ice) == [IceDisconnected(ADDR_A), IceConsentExpired(ADDR_A)]


def test_dropped_checks_do_not_renew_consent() -> None:
    ice = new_ice(consent_timeout=3.0, disconnected_after=1.0)
    check(ice, ADDR_A, 0.0, use_candidate=True)
    check(ice, ADDR_A, 0.9, password="wrong-password-xxxxxxxxx")
    ice.handle_timer(1.0)
    assert events(ice)[-1] == IceDisconnected(ADDR_A)


# -- ICE restart ---------------------------------------------------------------------------------


def test_ice_restart_keeps_selection_until_new_nomination() -> None:
    ice = new_ice(consent_timeout=3.0, disconnected_after=1.0)
    check(ice, ADDR_A, 0.0, use_candidate=True)
    events(ice)
    ice.restart("newU", "new-password-abcdefghijk", "newR", "new-remote-password-abcd")
    assert ice.local_ufrag == "newU" and ice.local_ufrags == ("newU", LOCAL_UFRAG)
    assert ice.selected_address == ADDR_A
    # Consent checks with the old credentials keep the old path alive meanwhile.
    assert check(ice, ADDR_A, 0.9) is not None
    ice.handle_timer(1.5)
    assert events(ice) == []
    # New generation: checks from B, then a nomination.
    new = ("newU:newR", "new-password-abcdefghijk")
    assert check(ice, ADDR_B, 1.6, *new) is not None
    assert check(ice, ADDR_A, 1.6, password="wrong-password-xxxxxxxxx") is None
    assert ice.selected_address == ADDR_A
    assert check(ice, ADDR_B, 1.7, *new, use_candidate=True) is not None
    assert events(ice) == [IceSelectedAddressChanged(ADDR_A, ADDR_B)]
    # The restart is complete: the old credentials are no longer accepted.
    assert list(ice.local_ufrags) == ["newU"]
    assert check(ice, ADDR_A, 1.8) is None
    assert ice.stats.dropped_username == 1
    ice.handle_timer(2.69)
    assert events(ice) == []
    ice.handle_timer(2.7)
    assert events(ice) == [IceDisconnected(ADDR_B)]


def test_ice_restart_on_same_address_is_silent() -> None:
    ice = new_ice()
    check(ice, ADDR_A, 0.0, use_candidate=True)
    events(ice)
    ice.restart("newU", "new-password-abcdefghijk", "newR", None)
    check(ice, ADDR_A, 1.0, "newU:newR", "new-password-abcdefghijk", use_candidate=True)
    assert events(ice) == [] and ice.selected_address == ADDR_A


# -- credentials and demux -------------------------------------------------------------------------


def test_generated_credentials() -> None:
    ice_chars = set(string.ascii_letters + string.digits + "+/")
    ufrags = {generate_ufrag() for _ in range(200)}
    passwords = {generate_password() for _ in range(200)}
    assert len(ufrags) == 200 and len(passwords) == 200
    assert all(len(u) == 8 and set(u) <= ice_chars for u in ufrags)
    assert all(len(p) == 24 and set(p) <= ice_chars for p in passwords)
    # aioice (the browser-side check) accepts them.
    aioice_ice.validate_username(next(iter(ufrags)))
    aioice_ice.validate_password(next(iter(passwords)))


def test_ufrag_of() -> None:
    assert ufrag_of(bytes(request())) == LOCAL_UFRAG
    # USERNAME not first: still found.
    assert ufrag_of(_our_request(())) == LOCAL_UFRAG
    data = StunMessage(
        StunMethod.BINDING,
        StunClass.REQUEST,
        bytes(12),
        ((StunAttr.GOOG_NETWORK_INFO, b"\x00\x01\x00\x0a"), (StunAttr.USERNAME, b"abc:de")),
    ).encode()
    assert ufrag_of(data) == "abc"
    assert ufrag_of(b"\x80" + data[1:]) is None
    response = StunMessage(StunMethod.BINDING, StunClass.SUCCESS, bytes(12), ((StunAttr.USERNAME, b"a:b"),))
    assert ufrag_of(bytes(response)) is None
    no_colon = StunMessage(StunMethod.BINDING, StunClass.REQUEST, bytes(12), ((StunAttr.USERNAME, b"abc"),))
    assert ufrag_of(bytes(no_colon)) is None
    assert ufrag_of(bytes(StunMessage(StunMethod.BINDING, StunClass.REQUEST, bytes(12)))) is None
    assert ufrag_of(data[:-4]) is None  # USERNAME cut short


# -- fuzzing ----------------------------------------------------------------------------------------


def _outcomes(ice: IceLiteConnection) -> int:
    return sum(dataclasses.asdict(ice.stats).values())


@given(st.binary(max_size=200))
def test_fuzz_receive_stun_arbitrary_bytes(data: bytes) -> None:
    ice = new_ice()
    assert ice.receive_stun(data, ADDR_A, 0.0) is None
    assert _outcomes(ice) == 1
    assert ufrag_of(data) is None or isinstance(ufrag_of(data), str)


_VALID = bytes(request(use_candidate=True))


@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_fuzz_receive_stun_mutated_request(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_VALID)
    for index, value in edits:
        data[index] = value
    ice = new_ice()
    response = ice.receive_stun(bytes(data), ADDR_A, 0.0)
    assert _outcomes(ice) == 1
    if bytes(data) != _VALID and response is not None:
        # Only edits that leave the authenticated bytes intact may still be answered.
        assert verify_integrity(bytes(data), LOCAL_PWD.encode())
    ufrag_of(bytes(data))


@given(st.binary(min_size=4, max_size=120))
def test_fuzz_receive_stun_authentic_garbage(body: bytes) -> None:
    # Authenticated requests with arbitrary attributes: answers only, never exceptions.
    attrs: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 3 <= len(body):
        length = body[pos + 2] % 12
        attrs.append((int.from_bytes(body[pos : pos + 2], "big"), body[pos + 3 : pos + 3 + length]))
        pos += 3 + length
    ice = new_ice()
    response = ice.receive_stun(_our_request(tuple(attrs)), ADDR_A, 0.0)
    assert _outcomes(ice) == 1
    if response is not None:
        assert verify_integrity(response, LOCAL_PWD.encode()) and verify_fingerprint(response)


# -- end to end: aioice (aiortc's ICE agent) against the engine over real UDP ---------------------


class _LiteServer(asyncio.DatagramProtocol):
    """Minimal asyncio glue for the test; the product's transport adapter lives elsewhere."""

    def __init__(self, ice: IceLiteConnection) -> None:
        self.ice = ice
        self.transport: asyncio.DatagramTransport | None = None
        self.media: list[tuple[bytes, tuple[str, int]]] = []
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass asyncio.DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if is_stun(data):
            response = self.ice.receive_stun(data, addr, self.loop.time())
            if response is not None:
                self.transport.sendto(response, addr)
        elif self.ice.is_valid_address(addr):
            self.media.append((data, addr))


@pytest.mark.parametrize("remote_is_lite", [True, False], ids=["regular-nomination", "aggressive-nomination"])
async def test_aioice_connects_to_the_lite_engine(monkeypatch: pytest.MonkeyPatch, remote_is_lite: bool) -> None:
    # aioice skips 127.0.0.1 when gathering; offer loopback for this test.
    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    loop = asyncio.get_running_loop()
    ufrag, pwd = generate_ufrag(), generate_password()
    client = aioice_ice.Connection(ice_controlling=True, use_ipv6=False)
    client.remote_is_lite = remote_is_lite  # True: regular nomination; False: aggressive
    ice = IceLiteConnection(ufrag, pwd, client.local_username, client.local_password)
    transport, server = await loop.create_datagram_endpoint(lambda: _LiteServer(ice), local_addr=("127.0.0.1", 0))
    try:
        host, port = transport.get_extra_info("sockname")[:2]
        await client.gather_candidates()
        client.remote_username, client.remote_password = ufrag, pwd
        await client.add_remote_candidate(
            Candidate(
                foundation="1",
                component=1,
                transport="udp",
                priority=2130706431,
                host=host,
                port=port,
                type="host",
            )
        )
        await client.add_remote_candidate(None)
        await asyncio.wait_for(client.connect(), timeout=10)

        client_addr = (client.local_candidates[0].host, client.local_candidates[0].port)
        assert events(ice) == [IceConnected(client_addr)]
        assert ice.selected_address == client_addr
        assert ice.stats.requests_ok >= 1
        assert ice.stats.dropped_integrity == ice.stats.dropped_username == 0

        await client.send(b"\x80media")
        for _ in range(100):
            if server.media:
                break
            await asyncio.sleep(0.01)
        assert server.media == [(b"\x80media", client_addr)]
    finally:
        await client.close()
        transport.close()
