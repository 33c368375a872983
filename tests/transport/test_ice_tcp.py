"""ICE-TCP passive (RFC 6544) with RFC 4571 framing: a hand-driven client over a real TCP socket.

aiortc does not do ICE-TCP, so the test is the client: it frames STUN, DTLS (``DtlsEndpoint``
in the client role) and SRTP itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
import time
from collections.abc import AsyncIterator

import pytest
from test_peer_aiortc import Recorder, wait_for

from hubbub.proto.certificate import Certificate
from hubbub.proto.dtls import DtlsConnected, DtlsEndpoint
from hubbub.proto.srtp import SrtpSession
from hubbub.proto.stun import StunAttr, StunClass, StunMessage, StunMethod, verify_integrity
from hubbub.transport import PeerState, PeerTransport, RtcTransportServer

CLIENT_UFRAG = "tcpclient"
CLIENT_PWD = "tcp-client-password-0123"


def binding_request(
    server_ufrag: str, password: str, *, nominate: bool = True, client_ufrag: str = CLIENT_UFRAG
) -> tuple[bytes, bytes]:
    """An ICE check as a controlling full agent sends it (RFC 8445 §7.1.1); returns (txid, bytes)."""
    txid = secrets.token_bytes(12)
    attributes: list[tuple[int, bytes]] = [
        (StunAttr.USERNAME, f"{server_ufrag}:{client_ufrag}".encode()),
        (StunAttr.PRIORITY, struct.pack("!I", 1_845_501_695)),
        (StunAttr.ICE_CONTROLLING, secrets.token_bytes(8)),
    ]
    if nominate:
        attributes.append((StunAttr.USE_CANDIDATE, b""))
    message = StunMessage(StunMethod.BINDING, StunClass.REQUEST, txid, tuple(attributes))
    return txid, message.encode(password.encode(), fingerprint=True)


class FramedClient:
    """RFC 4571 §2 framing over an asyncio stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, addr: tuple[str, int]) -> FramedClient:
        return cls(*await asyncio.open_connection(*addr))

    def send(self, packet: bytes) -> None:
        self.writer.write(struct.pack("!H", len(packet)) + packet)

    async def recv(self, timeout: float = 3.0) -> bytes:
        header = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        return await asyncio.wait_for(self.reader.readexactly(struct.unpack("!H", header)[0]), timeout)

    async def closed_by_server(self, timeout: float = 3.0) -> bool:
        try:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
        except ConnectionError:
            return True
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def tcp_server() -> AsyncIterator[RtcTransportServer]:
    async with RtcTransportServer(
        certificate=Certificate.generate(time.time()), host="127.0.0.1", udp_port=0, tcp_port=0
    ) as srv:
        yield srv


async def connect_over_tcp(
    server: RtcTransportServer, handler: Recorder
) -> tuple[FramedClient, PeerTransport, SrtpSession]:
    """STUN check, DTLS handshake and SRTP keys over one ICE-TCP connection."""
    client_cert = Certificate.generate(time.time())
    peer = server.create_peer(
        handler,
        remote_ufrag=CLIENT_UFRAG,
        remote_pwd=CLIENT_PWD,
        remote_fingerprints=[("sha-256", client_cert.fingerprint())],
    )
    assert server.tcp_address is not None
    client = await FramedClient.connect(server.tcp_address)
    txid, request = binding_request(peer.ice_ufrag, peer.ice_pwd)
    client.send(request)
    response = await client.recv()
    parsed = StunMessage.parse(response)
    assert parsed.message_class == StunClass.SUCCESS and parsed.transaction_id == txid
    assert verify_integrity(response, peer.ice_pwd.encode())  # RFC 8489 §9.1.3
    local = client.writer.get_extra_info("sockname")
    assert parsed.xor_mapped_address == (local[0], local[1])
    assert peer.over_tcp and peer.selected_address == (local[0], local[1])

    dtls = DtlsEndpoint(client_cert, "client", [server.fingerprint])
    loop = asyncio.get_running_loop()
    dtls.start(loop.time())
    connected: DtlsConnected | None = None
    while connected is None:
        for datagram in dtls.datagrams_to_send():
            client.send(datagram)
        dtls.receive_datagram(await client.recv(), loop.time())
        while (event := dtls.next_event()) is not None:
            assert isinstance(event, DtlsConnected), event
            connected = event
    for datagram in dtls.datagrams_to_send():
        client.send(datagram)
    srtp = SrtpSession(connected.srtp_profile, connected.local_keys, connected.remote_keys)
    await wait_for(lambda: peer.state is PeerState.CONNECTED)
    return client, peer, srtp


def rtp(seq: int, ssrc: int = 0x11223344, payload: bytes = b"hello-tcp") -> bytes:
    return struct.pack("!BBHII", 0x80, 111, seq, seq * 960, ssrc) + payload


async def test_stun_dtls_and_srtp_over_ice_tcp(tcp_server: RtcTransportServer) -> None:
    handler = Recorder()
    client, peer, srtp = await connect_over_tcp(tcp_server, handler)
    try:
        candidates = tcp_server.local_candidates(peer.ice_ufrag)
        tcp = [c for c in candidates if c.transport == "tcp"]
        udp = [c for c in candidates if c.transport == "udp"]
        assert tcp and tcp[0].tcptype == "passive" and tcp[0].port == tcp_server.tcp_address[1]  # type: ignore[index]
        assert udp[0].priority > tcp[0].priority  # RFC 6544 §4.2: UDP preferred

        # Client -> server: SRTP and SRTCP arrive decrypted at the handler.
        for seq in range(1, 6):
            client.send(srtp.protect_rtp(rtp(seq)))
        sender_report = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0x11223344, 0, 0, 0, 0, 0)
        client.send(srtp.protect_rtcp(sender_report))
        await wait_for(lambda: len(handler.rtp) == 5 and len(handler.rtcp) == 1)
        assert handler.rtp == [rtp(seq) for seq in range(1, 6)]
        assert handler.rtcp == [sender_report]

        # Server -> client: over the same connection.
        for seq in range(1, 4):
            peer.send_rtp(rtp(seq, ssrc=0xABCDEF01, payload=b"from-server"))
        peer.send_rtcp(sender_report)
        got = [srtp.unprotect_rtp(await client.recv()) for _ in range(3)]
        assert got == [rtp(seq, ssrc=0xABCDEF01, payload=b"from-server") for seq in range(1, 4)]
        assert srtp.unprotect_rtcp(await client.recv()) == sender_report

        # A consent check (no USE-CANDIDATE) keeps being answered on the same connection.
        txid, request = binding_request(peer.ice_ufrag, peer.ice_pwd, nominate=False)
        client.send(request)
        assert StunMessage.parse(await client.recv()).transaction_id == txid
    finally:
        await client.close()
    await wait_for(lambda: not peer.over_tcp)


async def test_unauthenticated_tcp_client_is_disconnected(tcp_server: RtcTransportServer) -> None:
    handler = Recorder()
    peer = tcp_server.create_peer(handler, remote_ufrag=CLIENT_UFRAG, remote_pwd=CLIENT_PWD)
    assert tcp_server.tcp_address is not None
    client = await FramedClient.connect(tcp_server.tcp_address)
    _, request = binding_request(peer.ice_ufrag, "not-the-right-password-xx")
    client.send(request)
    assert await client.closed_by_server()
    await client.close()
    assert peer.state is PeerState.NEW and not peer.over_tcp
    assert tcp_server.stats["tcp_rejected"] == 1 and tcp_server.stats["stun_bad_auth"] == 1


async def test_consent_timers_and_ice_restart() -> None:
    """RFC 7675 §5.1 consent: disconnected, reconnected, expired; RFC 8445 §9 restart keeps DTLS."""
    async with RtcTransportServer(
        certificate=Certificate.generate(time.time()),
        host="127.0.0.1",
        tcp_port=0,
        disconnected_after=0.3,
        consent_timeout=1.0,
    ) as server:
        handler = Recorder()
        client, peer, srtp = await connect_over_tcp(server, handler)
        try:
            await wait_for(lambda: peer.state is PeerState.DISCONNECTED, timeout=2.0)
            peer.send_rtp(rtp(1))  # consent has not expired yet: media still goes out (RFC 7675 §5.1)
            assert srtp.unprotect_rtp(await client.recv()) == rtp(1)

            old_ufrag = peer.ice_ufrag
            ufrag, pwd = peer.restart_ice("tcprestart", "tcp-restart-password-012")
            assert ufrag != old_ufrag and peer.ice_ufrag == ufrag
            assert server.peer_for_ufrag(ufrag) is peer and server.peer_for_ufrag(old_ufrag) is peer
            txid, request = binding_request(ufrag, pwd, client_ufrag="tcprestart")
            client.send(request)
            assert StunMessage.parse(await client.recv()).transaction_id == txid
            await wait_for(lambda: peer.state is PeerState.CONNECTED)
            assert server.peer_for_ufrag(old_ufrag) is None  # the nomination completed the restart
            client.send(srtp.protect_rtp(rtp(2)))  # the DTLS-SRTP keys survived the restart
            await wait_for(lambda: handler.rtp == [rtp(2)])

            await wait_for(lambda: peer.state is PeerState.FAILED, timeout=3.0)  # no more checks
            peer.send_rtp(rtp(3))
            assert peer.stats.dropped_not_connected == 1
            assert handler.states[-4:] == [
                PeerState.DISCONNECTED,
                PeerState.CONNECTED,
                PeerState.DISCONNECTED,
                PeerState.FAILED,
            ]
        finally:
            await client.close()


async def test_connect_timeout_fails_a_silent_peer() -> None:
    async with RtcTransportServer(
        certificate=Certificate.generate(time.time()), host="127.0.0.1", connect_timeout=0.2
    ) as server:
        handler = Recorder()
        peer = server.create_peer(handler, remote_ufrag=CLIENT_UFRAG, remote_pwd=CLIENT_PWD)
        await wait_for(lambda: peer.state is PeerState.FAILED, timeout=2.0)
        assert handler.states == [PeerState.FAILED]
        peer.close()
        assert handler.states == [PeerState.FAILED, PeerState.CLOSED]
