"""Hostile input on the shared ports: nothing raises out of the protocol, calls keep flowing.

Hypothesis generates datagrams (random bytes, truncated STUN, DTLS-looking and RTP-looking
garbage); each is fed through the UDP protocol's own entry point, from the connected peer's
address and from unknown ones, so an exception would fail the example instead of vanishing into
the event loop's exception handler. A sample also goes over a real socket.
"""

from __future__ import annotations

import socket
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ice_tcp import FramedClient, binding_request, connect_over_tcp, rtp, tcp_server
from test_peer_aiortc import Recorder, server, start_call, wait_for

from hubbub.proto.stun import StunAttr, StunClass, StunMessage, StunMethod
from hubbub.transport import PeerState, PeerTransport, RtcTransportServer
from hubbub.transport.tcp import MAX_FRAME

__all__ = ["server", "tcp_server"]  # fixtures, shared


def _stun(data: bytes, cut: int) -> bytes:
    message = StunMessage(
        StunMethod.BINDING, StunClass.REQUEST, data[:12].ljust(12, b"\0"), ((StunAttr.USERNAME, data[12:40]),)
    ).encode(b"key", fingerprint=True)
    return message[: max(0, len(message) - cut)]


DATAGRAMS = st.one_of(
    st.binary(max_size=1500),
    st.builds(_stun, st.binary(min_size=0, max_size=60), st.integers(0, 60)),  # truncated STUN
    st.binary(min_size=1, max_size=300).map(lambda b: bytes([20 + b[0] % 44]) + b[1:]),  # DTLS-looking
    st.binary(min_size=1, max_size=300).map(lambda b: bytes([128 + b[0] % 64]) + b[1:]),  # RTP/RTCP-looking
    st.binary(min_size=13, max_size=200).map(lambda b: b"\x16\xfe\xfd" + b),  # a DTLS 1.2 record header
)


async def test_garbage_udp_never_raises_and_the_call_keeps_flowing(server: RtcTransportServer) -> None:
    handler = Recorder()
    call = await start_call(server, handler)
    try:
        await wait_for(lambda: call.peer.state is PeerState.CONNECTED and len(handler.rtp) >= 5)
        peer_address = call.peer.selected_address
        assert peer_address is not None
        mux = server._mux  # the socket's protocol: the entry point the event loop calls
        assert mux is not None
        sample: list[bytes] = []

        @settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(data=DATAGRAMS, port=st.integers(1, 65535), from_peer=st.booleans())
        def feed(data: bytes, port: int, from_peer: bool) -> None:
            mux.datagram_received(data, peer_address if from_peer else ("127.0.0.1", port))
            if len(sample) < 200:
                sample.append(data)

        feed()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            assert server.udp_address is not None
            for data in sample:
                sock.sendto(data, server.udp_address)
            await wait_for(lambda: server.stats["dropped_unknown_address"] >= 200)

        assert server.stats["srtp_auth_failures"] > 0 or server.stats["dropped_malformed"] > 0
        assert call.peer.state is PeerState.CONNECTED
        assert call.peer.selected_address == peer_address
        received = len(handler.rtp)
        await wait_for(lambda: len(handler.rtp) >= received + 10)  # still flowing after the garbage
    finally:
        await call.pc.close()


async def test_handler_exceptions_are_contained(server: RtcTransportServer) -> None:
    class Exploding(Recorder):
        def on_rtp(self, peer: PeerTransport, packet: bytes) -> None:
            super().on_rtp(peer, packet)
            raise RuntimeError("handler bug")

    handler = Exploding()
    call = await start_call(server, handler)
    try:
        await wait_for(lambda: len(handler.rtp) >= 20)
        assert call.peer.stats.handler_errors >= 20 and call.peer.state is PeerState.CONNECTED
    finally:
        await call.pc.close()


async def test_bad_tcp_clients_are_disconnected_without_affecting_others(tcp_server: RtcTransportServer) -> None:
    handler = Recorder()
    good, peer, srtp = await connect_over_tcp(tcp_server, handler)
    assert tcp_server.tcp_address is not None
    try:
        # An oversize frame (RFC 4571 allows 65535 bytes; WebRTC never needs more than MAX_FRAME).
        big = await FramedClient.connect(tcp_server.tcp_address)
        big.writer.write(struct.pack("!H", MAX_FRAME + 1) + bytes(MAX_FRAME + 1))
        assert await big.closed_by_server()
        await big.close()

        # Garbage with no framing sense at all.
        noise = await FramedClient.connect(tcp_server.tcp_address)
        noise.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await noise.closed_by_server()
        await noise.close()

        # A check for a live peer with a bad password, then media, on an unbound connection.
        forged = await FramedClient.connect(tcp_server.tcp_address)
        _, request = binding_request(peer.ice_ufrag, "bad-password-00000000000")
        forged.send(request)
        forged.send(srtp.protect_rtp(rtp(99)))
        assert await forged.closed_by_server()
        await forged.close()

        # The authenticated connection still carries media both ways.
        good.send(srtp.protect_rtp(rtp(1)))
        await wait_for(lambda: handler.rtp == [rtp(1)])
        peer.send_rtp(rtp(2))
        assert srtp.unprotect_rtp(await good.recv()) == rtp(2)
        assert peer.state is PeerState.CONNECTED and peer.over_tcp
        await wait_for(lambda: tcp_server.stats["tcp_rejected"] == 3)

        # A bound connection whose framing desynchronises (a frame no protocol starts with,
        # RFC 7983 §7) is dropped as well; the peer stops sending over it.
        good.send(b"\xff garbage")
        assert await good.closed_by_server()
        await wait_for(lambda: not peer.over_tcp)
        assert tcp_server.stats["tcp_rejected"] == 4
    finally:
        await good.close()
