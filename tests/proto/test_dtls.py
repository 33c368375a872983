"""DTLS-SRTP engine: in-memory handshakes on a manual clock, loss, trust, hostile input, interop."""

from __future__ import annotations

import asyncio
import itertools
import re
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
from aiortc import RTCCertificate, RTCDtlsFingerprint, RTCDtlsParameters, RTCDtlsTransport
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.proto.certificate import Certificate, fingerprint_of, load_or_create
from hubbub.proto.dtls import (
    MAX_RETRANSMITS,
    DtlsClosed,
    DtlsConnected,
    DtlsEndpoint,
    DtlsEvent,
    DtlsFailed,
    DtlsState,
    Role,
    is_dtls,
)
from hubbub.proto.srtp import AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, SrtpProfile, SrtpSession

NOW = 1_700_000_000.0
SERVER_CERT = Certificate.generate(NOW)
CLIENT_CERT = Certificate.generate(NOW)

RTP = bytes([0x80, 96, 0, 1]) + (1234).to_bytes(4, "big") + (0xCAFE).to_bytes(4, "big") + bytes(range(200))
RTCP_RR = bytes([0x80, 201, 0, 1]) + (0xCAFE).to_bytes(4, "big")  # RFC 3550 §6.4.2, no report blocks


def fp(cert: Certificate) -> list[tuple[str, str]]:
    return [("sha-256", cert.fingerprint())]


def endpoint(
    role: Role,
    peer_fingerprints: list[tuple[str, str]] | None,
    profiles: Sequence[SrtpProfile] = (AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80),
) -> DtlsEndpoint:
    cert = SERVER_CERT if role == "server" else CLIENT_CERT
    return DtlsEndpoint(cert, role, peer_fingerprints, srtp_profiles=profiles)


def pair(**kwargs: Any) -> tuple[DtlsEndpoint, DtlsEndpoint]:
    return endpoint("server", fp(CLIENT_CERT)), endpoint("client", fp(SERVER_CERT), **kwargs)


def events(ep: DtlsEndpoint) -> list[DtlsEvent]:
    out: list[DtlsEvent] = []
    while (event := ep.next_event()) is not None:
        out.append(event)
    return out


Drop = Callable[[str, int, bytes], bool]


def run(
    server: DtlsEndpoint, client: DtlsEndpoint, now: float = 0.0, drop: Drop | None = None, limit: float = 300.0
) -> float:
    """Move datagrams by hand until both sides are quiet; advance the manual clock to the next timer.

    ``drop(direction, index, datagram)`` decides which datagrams are lost ("c2s"/"s2c", counted from 0).
    Returns the manual clock at the end.
    """
    sent = {"c2s": 0, "s2c": 0}
    client.start(now)
    while now < limit:
        moved = False
        for src, dst, direction in ((client, server, "c2s"), (server, client, "s2c")):
            for datagram in src.datagrams_to_send():
                moved = True
                index = sent[direction]
                sent[direction] += 1
                assert len(datagram) <= src.mtu
                if drop is None or not drop(direction, index, datagram):
                    dst.receive_datagram(datagram, now)
        if moved:
            continue
        timers = [t for t in (server.get_timer(), client.get_timer()) if t is not None]
        if not timers:
            return now
        now = max(now, min(timers))
        server.handle_timer(now)
        client.handle_timer(now)
    raise AssertionError("handshake did not settle")


def connected(ep: DtlsEndpoint) -> DtlsConnected:
    evs = events(ep)
    assert len(evs) == 1 and isinstance(evs[0], DtlsConnected), evs
    assert ep.state is DtlsState.CONNECTED
    return evs[0]


def assert_mirrored(server: DtlsEndpoint, client: DtlsEndpoint, profile: SrtpProfile) -> None:
    s, c = connected(server), connected(client)
    assert s.srtp_profile == c.srtp_profile == profile
    assert len(s.local_keys) == len(s.remote_keys) == profile.key_salt_len
    assert s.local_keys == c.remote_keys and s.remote_keys == c.local_keys
    assert s.local_keys != s.remote_keys
    # SRTP keyed by each side protects for the other, both ways, RTP and RTCP.
    srv = SrtpSession(profile, s.local_keys, s.remote_keys)
    cli = SrtpSession(profile, c.local_keys, c.remote_keys)
    assert cli.unprotect_rtp(srv.protect_rtp(RTP)) == RTP
    assert srv.unprotect_rtp(cli.protect_rtp(RTP)) == RTP
    assert cli.unprotect_rtcp(srv.protect_rtcp(RTCP_RR)) == RTCP_RR
    assert srv.unprotect_rtcp(cli.protect_rtcp(RTCP_RR)) == RTCP_RR


# -- handshake on a manual clock ---------------------------------------------------------------


def test_handshake_prefers_gcm() -> None:
    server, client = pair()
    run(server, client)
    assert_mirrored(server, client, AEAD_AES_128_GCM)
    assert server.get_timer() is None and client.get_timer() is None


def test_server_preference_wins_over_client_order() -> None:
    server, client = pair(profiles=(AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM))
    run(server, client)
    assert_mirrored(server, client, AEAD_AES_128_GCM)


def test_client_offering_only_cm_gets_cm() -> None:
    server, client = pair(profiles=(AES_CM_128_HMAC_SHA1_80,))
    run(server, client)
    assert_mirrored(server, client, AES_CM_128_HMAC_SHA1_80)


def test_no_common_profile_fails() -> None:
    server = endpoint("server", fp(CLIENT_CERT), profiles=(AEAD_AES_128_GCM,))
    client = endpoint("client", fp(SERVER_CERT), profiles=(AES_CM_128_HMAC_SHA1_80,))
    run(server, client)
    server_events, client_events = events(server), events(client)
    assert not any(isinstance(e, DtlsConnected) for e in server_events + client_events)
    assert any(isinstance(e, DtlsFailed) for e in server_events + client_events)


def test_datagrams_are_split_at_record_boundaries() -> None:
    server, client = pair()
    client.start(0.0)
    for datagram in client.datagrams_to_send():
        server.receive_datagram(datagram, 0.0)
    flight = server.datagrams_to_send()
    for datagram in flight:
        pos = 0
        while pos < len(datagram):  # RFC 6347 §4.1 record header: 13 bytes, length at 11..13
            assert datagram[pos] == 22 and datagram[pos + 1 : pos + 3] == b"\xfe\xfd"
            pos += 13 + int.from_bytes(datagram[pos + 11 : pos + 13], "big")
        assert pos == len(datagram) <= 1200


def test_small_mtu_fragments_the_flight() -> None:
    server = DtlsEndpoint(SERVER_CERT, "server", fp(CLIENT_CERT), mtu=300)
    client = DtlsEndpoint(CLIENT_CERT, "client", fp(SERVER_CERT), mtu=300)
    run(server, client)  # run() asserts every datagram fits the endpoint's MTU
    assert_mirrored(server, client, AEAD_AES_128_GCM)


# -- loss and retransmission -------------------------------------------------------------------


def test_lost_client_hello_is_retransmitted_on_the_manual_clock() -> None:
    server, client = pair()
    client.start(0.0)
    lost = client.datagrams_to_send()
    assert len(lost) == 1 and is_dtls(lost[0])
    timer = client.get_timer()
    assert timer is not None and 0.5 <= timer <= 1.0  # RFC 6347 §4.2.4.1: initial timer 1 s
    client.handle_timer(timer - 0.01)
    assert client.datagrams_to_send() == []  # not yet
    end = run(server, client, now=timer)
    assert client.retransmissions >= 1
    assert end < 5.0
    assert_mirrored(server, client, AEAD_AES_128_GCM)


LOSSES = {
    "client-hello": {("c2s", 0)},
    "server-hello-flight": {("s2c", 0)},
    "client-key-exchange-flight": {("c2s", 1)},
    "server-final-flight": {("s2c", 1)},
    "client-hello-twice": {("c2s", 0), ("c2s", 1)},
    "server-final-flight-twice": {("s2c", 1), ("s2c", 2)},
}


@pytest.mark.parametrize("lost", LOSSES.values(), ids=LOSSES.keys())
def test_any_lost_flight_is_recovered(lost: set[tuple[str, int]]) -> None:
    server, client = pair()
    end = run(server, client, drop=lambda direction, index, _: (direction, index) in lost)
    assert_mirrored(server, client, AEAD_AES_128_GCM)
    assert server.retransmissions + client.retransmissions >= 1
    assert end < 10.0  # 1 s, then 2 s: no more than two timer rounds


def test_silent_peer_times_out_with_doubling_timer() -> None:
    client = endpoint("client", fp(SERVER_CERT))
    client.start(0.0)
    deadlines = []
    now = 0.0
    for _ in range(MAX_RETRANSMITS + 1):
        client.datagrams_to_send()
        timer = client.get_timer()
        assert timer is not None
        deadlines.append(timer)
        now = timer
        client.handle_timer(now)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(deadlines)]
    assert gaps == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0][: len(gaps)]
    assert [type(e) for e in events(client)] == [DtlsFailed]
    assert client.state is DtlsState.FAILED and client.get_timer() is None


# -- trust: fingerprints (RFC 8827 §6.5) --------------------------------------------------------


def test_server_rejects_client_with_wrong_fingerprint() -> None:
    server = endpoint("server", fp(SERVER_CERT))  # not the client's
    client = endpoint("client", fp(SERVER_CERT))
    run(server, client)
    server_events, client_events = events(server), events(client)
    assert server_events == [DtlsFailed("certificate fingerprint mismatch")]
    assert len(client_events) == 1 and isinstance(client_events[0], DtlsFailed)  # the alert reached it
    assert server.state is DtlsState.FAILED


def test_client_rejects_server_with_wrong_fingerprint() -> None:
    server = endpoint("server", fp(CLIENT_CERT))
    client = endpoint("client", fp(CLIENT_CERT))  # not the server's
    run(server, client)
    assert events(client) == [DtlsFailed("certificate fingerprint mismatch")]
    assert not any(isinstance(e, DtlsConnected) for e in events(server))


def test_fingerprint_compare_ignores_case_and_accepts_any_listed() -> None:
    other = Certificate.generate(NOW)
    fingerprints = [("SHA-256", other.fingerprint()), ("sha-512", CLIENT_CERT.fingerprint("sha-512").lower())]
    server = endpoint("server", fingerprints)
    client = endpoint("client", fp(SERVER_CERT))
    run(server, client)
    assert_mirrored(server, client, AEAD_AES_128_GCM)


def test_fingerprint_given_after_handshake() -> None:
    server = endpoint("server", None)
    client = endpoint("client", fp(SERVER_CERT))
    run(server, client)
    assert events(server) == [] and server.state is DtlsState.AWAITING_FINGERPRINT
    server.set_remote_fingerprints(fp(CLIENT_CERT), 1.0)
    assert_mirrored(server, client, AEAD_AES_128_GCM)


def test_wrong_fingerprint_given_after_handshake() -> None:
    server = endpoint("server", None)
    client = endpoint("client", fp(SERVER_CERT))
    run(server, client)
    server.set_remote_fingerprints(fp(SERVER_CERT), 1.0)
    assert events(server) == [DtlsFailed("certificate fingerprint mismatch")]


# -- close ---------------------------------------------------------------------------------------


def test_close_notify_is_surfaced() -> None:
    server, client = pair()
    run(server, client)
    events(server), events(client)
    client.close(1.0)
    assert events(client) == [DtlsClosed("closed locally")]
    for datagram in client.datagrams_to_send():
        server.receive_datagram(datagram, 1.0)
    assert events(server) == [DtlsClosed("close_notify")]
    assert server.state is DtlsState.CLOSED
    server.receive_datagram(RTP, 2.0)
    assert events(server) == []


# -- hostile input -------------------------------------------------------------------------------

record_shaped = st.builds(
    lambda t, v, body: bytes([t]) + v + body[:8] + len(body[8:]).to_bytes(2, "big") + body[8:],
    st.integers(20, 63),
    st.sampled_from([b"\xfe\xfd", b"\xfe\xff", b"\x03\x03"]),
    st.binary(min_size=8, max_size=1400),
)
hostile = st.lists(st.one_of(st.binary(max_size=1500), record_shaped), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.lists(st.binary(max_size=1500), max_size=8))
def test_random_bytes_before_handshake_do_not_break_it(garbage: list[bytes]) -> None:
    server, client = pair()
    for i, data in enumerate(garbage):
        server.receive_datagram(data, float(i))
    run(server, client, now=float(len(garbage)))
    assert_mirrored(server, client, AEAD_AES_128_GCM)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=hostile, role=st.sampled_from(["server", "client"]))
def test_hostile_records_never_raise(garbage: list[bytes], role: Role) -> None:
    server, client = pair()
    target = server if role == "server" else client
    client.start(0.0)
    for data in garbage:
        target.receive_datagram(data, 0.0)
        target.handle_timer(100.0)
    kinds = {type(e) for e in events(target)}
    assert kinds <= {DtlsFailed}
    if not kinds:  # still handshaking: a real peer can still complete it
        run(server, client, now=200.0)
        assert_mirrored(server, client, AEAD_AES_128_GCM)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=hostile)
def test_hostile_records_after_handshake_are_dropped(garbage: list[bytes]) -> None:
    server, client = pair()
    run(server, client)
    s, c = connected(server), connected(client)
    for data in garbage:
        server.receive_datagram(data, 10.0)
        client.receive_datagram(data, 10.0)
    assert events(server) == [] and events(client) == []
    assert server.state is client.state is DtlsState.CONNECTED
    srtp = SrtpSession(s.srtp_profile, s.local_keys, s.remote_keys)
    assert SrtpSession(c.srtp_profile, c.local_keys, c.remote_keys).unprotect_rtp(srtp.protect_rtp(RTP)) == RTP


def test_is_dtls_demux() -> None:
    # RFC 7983 §7: 0-3 STUN, 16-19 ZRTP, 20-63 DTLS, 64-79 TURN channel, 128-191 RTP/RTCP
    assert [b for b in range(256) if is_dtls(bytes([b]))] == list(range(20, 64))
    assert not is_dtls(b"")


# -- certificate ---------------------------------------------------------------------------------


def test_certificate_fingerprint_format_and_validity() -> None:
    fingerprint = SERVER_CERT.fingerprint()
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fingerprint)
    assert fingerprint == fingerprint_of(SERVER_CERT.x509, "SHA-256")
    assert SERVER_CERT.x509.not_valid_before_utc.timestamp() == NOW - 86400
    assert SERVER_CERT.x509.not_valid_after_utc.timestamp() == NOW + 30 * 86400
    x509, pkey = SERVER_CERT.to_pyopenssl()
    assert x509.to_cryptography() == SERVER_CERT.x509
    key = pkey.to_cryptography_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert key.public_key() == SERVER_CERT.private_key.public_key()
    with pytest.raises(ValueError):
        SERVER_CERT.fingerprint("md5")


def test_load_or_create_persists_and_renews(tmp_path: Path) -> None:
    path = tmp_path / "data" / "dtls.pem"
    first = load_or_create(path, NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path, NOW + 86400).fingerprint() == first.fingerprint()
    renewed = load_or_create(path, NOW + 29.5 * 86400)  # expires within a day: replaced
    assert renewed.fingerprint() != first.fingerprint()
    assert load_or_create(path, NOW + 29.5 * 86400).fingerprint() == renewed.fingerprint()


# -- interop with independent implementations ----------------------------------------------------


class _UdpServer(asyncio.DatagramProtocol):
    """A tiny asyncio adapter: one DtlsEndpoint behind a UDP socket (the transport layer's job)."""

    def __init__(self, endpoint: DtlsEndpoint) -> None:
        self.endpoint = endpoint
        self.events: list[DtlsEvent] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint.receive_datagram(data, self.loop.time())
        assert self.transport is not None
        for datagram in self.endpoint.datagrams_to_send():
            self.transport.sendto(datagram, addr)
        while (event := self.endpoint.next_event()) is not None:
            self.events.append(event)


async def test_interop_openssl_s_client(tmp_path: Path) -> None:
    pem = tmp_path / "client.pem"
    pem.write_bytes(CLIENT_CERT.to_pem())
    loop = asyncio.get_running_loop()
    protocol = _UdpServer(endpoint("server", fp(CLIENT_CERT)))
    transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            "openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{port}",
            "-use_srtp", "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80",
            "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "56",
            "-cert", str(pem), "-key", str(pem),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        stdout, _ = await asyncio.wait_for(proc.communicate(), timeout=20)
        for _ in range(500):  # the close_notify may still be in the socket buffer
            if len(protocol.events) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        transport.close()
    text = stdout.decode(errors="replace")
    assert "SRTP Extension negotiated, profile=SRTP_AEAD_AES_128_GCM" in text, text
    match = re.search(r"Keying material: ([0-9A-Fa-f]+)", text)
    assert match, text
    material = bytes.fromhex(match.group(1))
    ours = protocol.events[0]
    assert isinstance(ours, DtlsConnected), protocol.events
    # RFC 5764 §4.2 layout: client key | server key | client salt | server salt; we are the server.
    assert ours.local_keys == material[16:32] + material[44:56]
    assert ours.remote_keys == material[0:16] + material[32:44]
    assert protocol.events[1:] == [DtlsClosed("close_notify")]  # s_client closes on stdin EOF


class _FakeIceTransport:
    """Just what aiortc's RTCDtlsTransport uses of RTCIceTransport: role, _send and _recv."""

    role = "controlled"

    def __init__(self, peer: DtlsEndpoint) -> None:
        self.peer = peer
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    async def _send(self, data: bytes) -> None:
        self.peer.receive_datagram(data, self.loop.time())
        for datagram in self.peer.datagrams_to_send():
            self.inbox.put_nowait(datagram)

    async def _recv(self) -> bytes:
        return await self.inbox.get()


async def test_interop_aiortc_dtls_client() -> None:
    aio_cert = RTCCertificate.generateCertificate()
    aio_fps = [(f.algorithm, f.value) for f in aio_cert.getFingerprints()]
    server = endpoint("server", aio_fps)
    ice = _FakeIceTransport(server)
    dtls = RTCDtlsTransport(ice, [aio_cert])  # type: ignore[arg-type]
    dtls._set_role("client")
    params = RTCDtlsParameters(fingerprints=[RTCDtlsFingerprint("sha-256", SERVER_CERT.fingerprint())])
    try:
        await asyncio.wait_for(dtls.start(params), timeout=10)
        assert dtls.state == "connected"
        event = connected(server)
        # aiortc offers AES-256-GCM first; the server's preference (AES-128-GCM) wins.
        assert event.srtp_profile == AEAD_AES_128_GCM
        ours = SrtpSession(event.srtp_profile, event.local_keys, event.remote_keys)
        theirs_tx: Any = dtls._tx_srtp
        theirs_rx: Any = dtls._rx_srtp
        assert ours.unprotect_rtp(theirs_tx.protect(RTP)) == RTP
        assert theirs_rx.unprotect(ours.protect_rtp(RTP)) == RTP
        assert ours.unprotect_rtcp(theirs_tx.protect_rtcp(RTCP_RR)) == RTCP_RR
        assert theirs_rx.unprotect_rtcp(ours.protect_rtcp(RTCP_RR)) == RTCP_RR
    finally:
        await dtls.stop()
    assert events(server) == [DtlsClosed("close_notify")]


def test_handshake_cpu_time_is_modest() -> None:
    start = time.process_time()
    for _ in range(5):
        server, client = pair()
        run(server, client)
    per_handshake = (time.process_time() - start) / 5
    assert per_handshake < 0.1  # both sides, ECDHE + ECDSA P-256: a few milliseconds here
