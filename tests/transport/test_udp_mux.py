"""One UDP port for every peer (RFC 7983 demultiplexing): routing, authentication, cleanup."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from test_ice_tcp import CLIENT_PWD, CLIENT_UFRAG, binding_request
from test_peer_aiortc import Recorder, rtp_header, server, start_call, wait_for

from hubbub.proto.stun import StunClass, StunMessage
from hubbub.transport import PeerState, RtcTransportServer

__all__ = ["server"]  # the fixture, shared


@pytest.fixture
def raw_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


async def recv_or_none(sock: socket.socket, timeout: float = 0.3) -> bytes | None:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 2048), timeout)
    except TimeoutError:
        return None


def udp_address(server: RtcTransportServer) -> tuple[str, int]:
    assert server.udp_address is not None
    return server.udp_address


async def test_two_aiortc_peers_share_the_port(server: RtcTransportServer) -> None:
    first, second = Recorder(), Recorder()
    call_a = await start_call(server, first)
    call_b = await start_call(server, second)
    try:
        await wait_for(lambda: PeerState.CONNECTED is call_a.peer.state is call_b.peer.state)
        assert call_a.ssrc != call_b.ssrc
        await wait_for(lambda: len(first.rtp) >= 10 and len(second.rtp) >= 10)
        assert {rtp_header(p)[1] for p in first.rtp} == {call_a.ssrc}
        assert {rtp_header(p)[1] for p in second.rtp} == {call_b.ssrc}
        assert call_a.peer.selected_address != call_b.peer.selected_address
        assert server.stats["srtp_auth_failures"] == 0
    finally:
        await call_a.pc.close()
        await call_b.pc.close()


async def test_wrong_password_gets_no_answer_and_binds_nothing(
    server: RtcTransportServer, raw_socket: socket.socket
) -> None:
    peer = server.create_peer(Recorder(), remote_ufrag=CLIENT_UFRAG, remote_pwd=CLIENT_PWD)
    _, forged = binding_request(peer.ice_ufrag, "a-guessed-password-00000")
    raw_socket.sendto(forged, udp_address(server))
    assert await recv_or_none(raw_socket) is None
    assert server.stats["stun_bad_auth"] == 1
    assert not peer.addresses and peer.state is PeerState.NEW and peer.selected_address is None

    # Positive control: the right password is answered and binds the address.
    txid, request = binding_request(peer.ice_ufrag, peer.ice_pwd)
    raw_socket.sendto(request, udp_address(server))
    answer = await recv_or_none(raw_socket)
    assert answer is not None and StunMessage.parse(answer).transaction_id == txid
    assert StunMessage.parse(answer).message_class == StunClass.SUCCESS
    state: PeerState = peer.state
    assert peer.addresses == {raw_socket.getsockname()} and state is PeerState.CONNECTING


async def test_unknown_address_is_dropped_and_counted(server: RtcTransportServer, raw_socket: socket.socket) -> None:
    before = server.stats["dropped_unknown_address"]
    for payload in (b"\x80\x6f" + bytes(30), b"\x16\xfe\xfd" + bytes(40), b"hello", b""):
        raw_socket.sendto(payload, udp_address(server))
    # A well-formed check for a ufrag nobody owns is just as unknown.
    _, orphan = binding_request("nobodyhere", "whatever-password-000000")
    raw_socket.sendto(orphan, udp_address(server))
    await wait_for(lambda: server.stats["dropped_unknown_address"] - before == 5)
    assert await recv_or_none(raw_socket, 0.1) is None


async def test_close_frees_ufrag_and_address(server: RtcTransportServer, raw_socket: socket.socket) -> None:
    handler = Recorder()
    peer = server.create_peer(handler, remote_ufrag=CLIENT_UFRAG, remote_pwd=CLIENT_PWD)
    _, request = binding_request(peer.ice_ufrag, peer.ice_pwd)
    raw_socket.sendto(request, udp_address(server))
    assert await recv_or_none(raw_socket) is not None
    assert server.peer_for_ufrag(peer.ice_ufrag) is peer and peer.addresses

    peer.close()
    assert handler.states[-1] is PeerState.CLOSED
    assert server.peer_for_ufrag(peer.ice_ufrag) is None and not peer.addresses
    assert peer not in server.peers
    before = server.stats["dropped_unknown_address"]
    raw_socket.sendto(request, udp_address(server))  # the old credentials are dead
    assert await recv_or_none(raw_socket) is None
    raw_socket.sendto(b"\x80\x6f" + bytes(30), udp_address(server))  # the old address is unknown
    await wait_for(lambda: server.stats["dropped_unknown_address"] - before == 2)
    peer.send_rtp(b"\x80" * 20)  # sending after close is a counted no-op
    assert peer.stats.dropped_not_connected == 1


async def test_closed_aiortc_peer_frees_its_address(server: RtcTransportServer) -> None:
    call = await start_call(server, Recorder())
    try:
        await wait_for(lambda: call.peer.state is PeerState.CONNECTED)
        bound = set(call.peer.addresses)
        assert call.peer.selected_address in bound
        call.peer.close()
        assert server.peer_for_ufrag(call.peer.ice_ufrag) is None
        assert not any(server.peer_for_address(a) for a in bound)
    finally:
        await call.pc.close()
