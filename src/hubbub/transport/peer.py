"""One peer connection's transport: ICE-lite, DTLS-SRTP and SRTP glued to the shared sockets.

Theory of operation
-------------------
A ``PeerTransport`` owns three sans-I/O engines: an ``IceLiteConnection`` (RFC 8445 §2.5), a
``DtlsEndpoint`` in the server role (RFC 5763 §5, RFC 8842 §5) and, once DTLS has exported keys,
an ``SrtpSession`` (RFC 5764 §4.2). The server's sockets hand it each packet that demultiplexes to
it; ``receive`` sorts the packet by its first byte (RFC 7983 §7):

* 128..191: SRTP or SRTCP (RFC 5761 §4 tells them apart by the second byte) -> unprotect ->
  ``handler.on_rtp`` / ``handler.on_rtcp`` with the plain packet. This is the hot path;
* 0..3: STUN -> the ICE engine; its answer goes back to the source over the same socket or TCP
  connection, and an authenticated check binds the source address to this peer;
* 20..63: DTLS -> the DTLS engine; what it sends goes to the address ICE selected.

The state is derived, never set by hand (see ``_derive``): *connected* needs both an ICE
nomination and DTLS keys; ``IceDisconnected`` / ``IceReconnected`` move between *connected* and
*disconnected*; consent expiry (RFC 7675 §5.1), a DTLS failure or no connection within
``connect_timeout`` is *failed*; ``close()`` or the peer's close_notify is *closed*. Media is sent
only while connected or disconnected (consent still holds then).

Timers: the earliest of the ICE and DTLS deadlines (and the connect timeout) is kept in one
``Deadline``, moved after STUN/DTLS events only.

Sending: every packet after DTLS (RTP on any SSRC, RTCP) goes through the peer's one
:class:`~hubbub.transport.sender.Sender` (native or Python), which owns the outbound SRTP context,
the path to the socket and the send counters; ``_refresh`` hands it the send path whenever that
changes.
"""

from __future__ import annotations

import enum
import logging
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from hubbub.proto.dtls import DtlsClosed, DtlsConnected, DtlsEndpoint, DtlsFailed, DtlsState
from hubbub.proto.ice import (
    IceConnected,
    IceConsentExpired,
    IceDisconnected,
    IceLiteConnection,
    IceReconnected,
    IceSelectedAddressChanged,
    generate_password,
    ufrag_of,
)
from hubbub.proto.srtp import SrtpError, SrtpSession
from hubbub.transport.congestion import Padding, SendControl
from hubbub.transport.sender import Address, SendPath, SendTo, make_sender
from hubbub.transport.stats import PeerStats, TransportStats
from hubbub.transport.timers import Deadline

if TYPE_CHECKING:
    import asyncio

    from hubbub.transport.native import _fanout
    from hubbub.transport.tcp import IceTcpConnection

__all__ = ["PeerHandler", "PeerState", "PeerTransport"]

logger = logging.getLogger(__name__)


class PeerState(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    CLOSED = "closed"


class PeerHandler(Protocol):
    """Receives a peer's plain RTP/RTCP and its state changes. Exceptions are caught and counted."""

    def on_rtp(self, peer: PeerTransport, packet: bytes) -> None: ...

    def on_rtcp(self, peer: PeerTransport, packet: bytes) -> None: ...

    def on_state(self, peer: PeerTransport, state: PeerState) -> None: ...


class PeerHost(Protocol):
    """What a peer needs from the server that owns the sockets."""

    counters: TransportStats

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def now(self) -> float: ...

    def udp_sendto(self) -> SendTo: ...

    def udp_fileno(self) -> int | None: ...

    def bind_address(self, peer: PeerTransport, addr: Address) -> bool: ...

    def unbind_address(self, peer: PeerTransport, addr: Address) -> None: ...

    def peer_for_ufrag(self, ufrag: str) -> PeerTransport | None: ...

    def set_ufrags(self, peer: PeerTransport, ufrags: Sequence[str]) -> None: ...

    def new_ufrag(self) -> str: ...

    def forget(self, peer: PeerTransport) -> None: ...


def _bad_auth(ice: IceLiteConnection) -> int:
    s = ice.stats
    return s.dropped_username + s.dropped_integrity + s.dropped_fingerprint


class PeerTransport:
    """ICE + DTLS + SRTP of one peer connection on the server's shared sockets."""

    __slots__ = (
        "_cc",
        "_connect_deadline",
        "_dtls",
        "_dtls_failed",
        "_handler",
        "_host",
        "_ice",
        "_ice_down",
        "_links",
        "_padding",
        "_path",
        "_remote_closed",
        "_sender",
        "_srtp",
        "_state",
        "_stats",
        "_timed_out",
        "_timer",
        "_udp_send",
        "addresses",
        "fingerprint",
        "id",
    )

    def __init__(
        self,
        host: PeerHost,
        peer_id: int,
        handler: PeerHandler,
        ice: IceLiteConnection,
        dtls: DtlsEndpoint,
        fingerprint: tuple[str, str],
        connect_timeout: float,
        *,
        native: ModuleType | None = None,
    ) -> None:
        self._host = host
        self.id = peer_id
        self._handler = handler
        self._ice = ice
        self._dtls = dtls
        self.fingerprint = fingerprint  # ours, for a=fingerprint (RFC 8122 §5)
        self._stats = PeerStats()
        self.addresses: set[Address] = set()  # UDP addresses bound to this peer on the server
        self._links: dict[Address, IceTcpConnection] = {}  # ICE-TCP connections by remote address
        self._udp_send: SendTo = host.udp_sendto()
        self._srtp: SrtpSession | None = None  # inbound (and SRTCP out, through the sender)
        # Everything sent after DTLS; ``native`` is the C extension (hubbub.transport.native).
        self._sender = make_sender(native, self._stats)
        self._path: SendPath | None = None  # what the sender was last told
        self._state = PeerState.NEW
        self._ice_down = False
        self._cc: SendControl | None = None  # transport-wide CC, on a connection that negotiated it
        self._padding: Padding | None = None  # what makes the padding of its probes
        self._dtls_failed = False
        self._remote_closed = False
        self._timed_out = False
        self._timer = Deadline(host.loop, host.now, self._on_timer)
        self._connect_deadline: float | None = host.now() + connect_timeout
        self._timer.set(self._connect_deadline)

    # -- public face --------------------------------------------------------------------------

    @property
    def ice_ufrag(self) -> str:
        return self._ice.local_ufrag

    @property
    def ice_pwd(self) -> str:
        return self._ice.local_pwd

    @property
    def state(self) -> PeerState:
        return self._state

    @property
    def selected_address(self) -> Address | None:
        return self._ice.selected_address

    @property
    def srtp_profile(self) -> str | None:
        """The negotiated DTLS-SRTP protection profile (RFC 5764 §4.1.2), once connected."""
        return None if self._srtp is None else self._srtp.profile.name

    @property
    def stats(self) -> PeerStats:
        """This peer's counters, brought up to date with what the sender counted on its own."""
        self._sender.flush()
        return self._stats

    def fanout_entry(self, ssrc: int, pt_map: bytes) -> _fanout.Entry | None:
        """A native fan-out entry for a down-track on ``ssrc`` (see ``Sender.fanout_entry``), or None."""
        return self._sender.fanout_entry(ssrc, pt_map)

    @property
    def over_tcp(self) -> bool:
        """True when media goes over an ICE-TCP connection."""
        target = self._ice.remote_address
        return target is not None and target in self._links

    def send_rtp(self, packet: bytes) -> None:
        """RFC 3711 §3.3: protect and send to the selected address; counted drop if not connected."""
        self._sender.send_rtp(packet)

    def send_rtcp(self, packet: bytes) -> None:
        """RFC 3711 §3.4: protect and send to the selected address; counted drop if not connected."""
        self._sender.send_rtcp(packet)

    def restart_ice(self, remote_ufrag: str | None, remote_pwd: str | None) -> tuple[str, str]:
        """RFC 8445 §9: new local credentials for the re-offer/answer; DTLS and SRTP are kept.

        The previous credentials stay valid until the peer nominates under the new ones, so
        consent on the current path is not lost meanwhile.
        """
        if self._state is PeerState.CLOSED:
            raise RuntimeError("peer transport is closed")
        ufrag, pwd = self._host.new_ufrag(), generate_password()
        self._ice.restart(ufrag, pwd, remote_ufrag, remote_pwd)
        self._host.set_ufrags(self, self._ice.local_ufrags)
        return ufrag, pwd

    def set_remote_credentials(self, remote_ufrag: str, remote_pwd: str) -> None:
        """The peer's ICE ufrag/pwd, when its answer arrives after the transport was created."""
        self._ice.set_remote_credentials(remote_ufrag, remote_pwd)

    def set_remote_fingerprints(self, fingerprints: Sequence[tuple[str, str]]) -> None:
        """The peer's ``a=fingerprint`` values (RFC 8122 §5); raises ``DtlsError`` if none is usable."""
        if self._state is PeerState.CLOSED:
            return
        self._dtls.set_remote_fingerprints(fingerprints, self._host.now())
        self._after_dtls(None)

    def set_transport_cc(self, ext_id: int | None) -> None:
        """Stamp every RTP packet sent with a transport-wide sequence number under header
        extension ``ext_id`` and estimate the send rate from the feedback; None: neither
        (:mod:`hubbub.transport.congestion`). The estimate carries over a renegotiation."""
        if self._state is PeerState.CLOSED:
            return
        self._sender.set_transport_cc(ext_id)
        if ext_id is None and self._cc is not None:
            self._cc.close()
            self._cc = None
        elif ext_id is not None and self._cc is None:
            self._cc = SendControl(self._sender, self._host.loop, self._host.now)
            self._cc.padding = self._padding

    @property
    def send_estimate(self) -> float | None:
        """The send-side estimate of this connection (bit/s), None without transport-wide CC
        or before its first feedback."""
        cc = self._cc
        return cc.estimate_bps if cc is not None else None

    def request_probe(self, need_bps: float) -> None:
        """Find out whether the path carries ``need_bps`` (padding probes), if it has an estimate."""
        if self._cc is not None:
            self._cc.request_probe(need_bps, self._host.now())

    def set_padding_rate(self, bps: float) -> None:
        """Pad at ``bps`` on top of the media (``SendControl.set_padding_rate``), if it has an estimate."""
        if self._cc is not None:
            self._cc.set_padding_rate(bps)

    def set_padding(self, padding: Padding | None) -> None:
        """What makes the padding-only packets of probes (``padding(size) -> RTP packet | None``),
        kept for when transport-wide CC is negotiated."""
        self._padding = padding
        if self._cc is not None:
            self._cc.padding = padding

    def close(self) -> None:
        """Send DTLS close_notify, release the ufrag, addresses and TCP connections. Idempotent."""
        if self._state is PeerState.CLOSED:
            return
        target = self._ice.remote_address
        if self._dtls.state is not DtlsState.CLOSED and self._dtls.state is not DtlsState.FAILED:
            self._dtls.close(self._host.now())
            if target is not None and not self._remote_closed:
                for datagram in self._dtls.datagrams_to_send():
                    self._send_to(datagram, target)
        while self._dtls.next_event() is not None:
            pass
        self._timer.cancel()
        if self._cc is not None:
            self._cc.close()
            self._cc = None
        self._srtp = None
        self._path = None
        self._sender.set_path(None)
        links, self._links = list(self._links.values()), {}
        for link in links:
            link.abort("peer closed")
        self._host.forget(self)
        self._set_state(PeerState.CLOSED)

    # -- input from the sockets -----------------------------------------------------------------

    def receive(self, data: bytes, addr: Address, link: IceTcpConnection | None) -> None:
        """One packet from a bound address (UDP) or an authenticated connection (TCP)."""
        stats = self._stats
        stats.packets_in += 1
        stats.bytes_in += len(data)
        try:
            first = data[0]
        except IndexError:
            self._malformed()
            return
        if 127 < first < 192:  # RFC 7983 §7: RTP/RTCP
            srtp = self._srtp
            if srtp is None:
                stats.dropped_before_keys += 1
                return
            if len(data) > 1 and 191 < data[1] < 224:  # RFC 5761 §4: RTCP packet types 192..223
                try:
                    plain = srtp.unprotect_rtcp(data)
                except SrtpError:
                    self._srtp_failed()
                    return
                stats.rtcp_in += 1
                if self._cc is not None:
                    self._cc.on_rtcp(plain, self._host.now())
                try:
                    self._handler.on_rtcp(self, plain)
                except Exception:
                    self._handler_failed("on_rtcp")
                return
            try:
                plain = srtp.unprotect_rtp(data)
            except SrtpError:
                self._srtp_failed()
                return
            stats.rtp_in += 1
            try:
                self._handler.on_rtp(self, plain)
            except Exception:
                self._handler_failed("on_rtp")
        elif first < 4:  # STUN
            ufrag = ufrag_of(data)
            owner = self._host.peer_for_ufrag(ufrag) if ufrag is not None else None
            if owner is not None and owner is not self:
                owner.check(data, addr, link)  # a check for another peer's credentials
            else:
                self.check(data, addr, link)
        elif 19 < first < 64:  # DTLS
            stats.dtls_in += 1
            if self._state is PeerState.CLOSED:
                return
            self._dtls.receive_datagram(data, self._host.now())
            self._after_dtls(addr)
        else:
            self._malformed()

    def check(self, data: bytes, addr: Address, link: IceTcpConnection | None) -> bool:
        """Give a STUN message to the ICE engine; bind ``addr`` if it authenticated. True if answered."""
        self._stats.stun_in += 1
        if self._state is PeerState.CLOSED:
            return False
        ice = self._ice
        bad_before = _bad_auth(ice)
        response = ice.receive_stun(data, addr, self._host.now())
        if response is None:
            if _bad_auth(ice) != bad_before:
                self._stats.stun_bad_auth += 1
                self._host.counters.stun_bad_auth += 1
            return False
        # RFC 8445 §7.3.1.2: the response goes back to the source, over the path it came by.
        self._emit(response, addr, self._udp_send if link is None else link.sendto)
        if not ice.is_valid_address(addr):
            return True  # an authenticated error response (400, 420, 487): nothing learnt
        if link is None:
            if addr not in self.addresses and self._host.bind_address(self, addr):
                self.addresses.add(addr)
        elif self._links.get(addr) is not link:
            self._links[addr] = link
            link.authenticated(self)
        self._after_ice()
        return True

    def detach(self, link: IceTcpConnection) -> None:
        """An ICE-TCP connection of this peer closed."""
        if self._links.get(link.addr) is link:
            del self._links[link.addr]
            self._refresh()

    # -- engine events --------------------------------------------------------------------------

    def _after_ice(self) -> None:
        ice = self._ice
        while (event := ice.next_event()) is not None:
            if isinstance(event, IceConnected | IceReconnected):
                self._ice_down = False
            elif isinstance(event, IceDisconnected):
                self._ice_down = True
            elif isinstance(event, IceSelectedAddressChanged):
                # Network change or ICE restart (RFC 8445 §9): media moves to the new address.
                if event.old in self.addresses and event.old != event.new:
                    self.addresses.discard(event.old)
                    self._host.unbind_address(self, event.old)
            elif isinstance(event, IceConsentExpired):
                logger.info("peer %d: ICE consent expired (RFC 7675)", self.id)
        # Forget addresses the engine no longer holds valid (it keeps a bounded set).
        for stale in [a for a in self.addresses if not ice.is_valid_address(a)]:
            self.addresses.discard(stale)
            self._host.unbind_address(self, stale)
        self._host.set_ufrags(self, ice.local_ufrags)
        self._refresh()

    def _after_dtls(self, source: Address | None) -> bool:
        """Send what DTLS produced and act on its events; False if the peer closed meanwhile."""
        dtls = self._dtls
        datagrams = dtls.datagrams_to_send()
        if datagrams:
            target = self._ice.remote_address or source
            if target is not None:
                for datagram in datagrams:
                    self._send_to(datagram, target)
        closed = False
        while (event := dtls.next_event()) is not None:
            if isinstance(event, DtlsConnected):
                self._srtp = SrtpSession(event.srtp_profile, event.local_keys, event.remote_keys)
                self._sender.set_keys(self._srtp, event.local_keys)
                logger.info("peer %d: DTLS connected, %s", self.id, event.srtp_profile.name)
            elif isinstance(event, DtlsFailed):
                self._dtls_failed = True
                logger.info("peer %d: DTLS failed: %s", self.id, event.reason)
            elif isinstance(event, DtlsClosed):
                closed = True
        if closed and self._state is not PeerState.CLOSED:
            self._remote_closed = True  # RFC 5246 §7.2.1 close_notify: the peer hung up
            self.close()
            return False
        self._refresh()
        return True

    def _on_timer(self) -> None:
        if self._state is PeerState.CLOSED:
            return
        now = self._host.now()
        if self._connect_deadline is not None and now >= self._connect_deadline:
            self._connect_deadline = None
            self._timed_out = True
            logger.info("peer %d: no connection within the connect timeout", self.id)
        self._ice.handle_timer(now)
        self._dtls.handle_timer(now)
        if self._after_dtls(None):
            self._after_ice()

    # -- state ----------------------------------------------------------------------------------

    def _derive(self) -> PeerState:
        ice = self._ice
        if self._dtls_failed or ice.consent_expired:
            return PeerState.FAILED
        if self._srtp is not None and ice.remote_address is not None:
            # RFC 8445 §12.1: media may flow on a valid pair before the nomination arrives
            # (Chromium nominates some 50 ms after its first successful check).
            return PeerState.DISCONNECTED if self._ice_down else PeerState.CONNECTED
        if self._timed_out:
            return PeerState.FAILED  # never connected within the connect timeout
        if self.addresses or self._links or self._dtls.state is not DtlsState.HANDSHAKING:
            return PeerState.CONNECTING
        return PeerState.NEW

    def _refresh(self) -> None:
        """Recompute the state, the send path and the timer after any engine event."""
        if self._state is PeerState.CLOSED:
            return
        state = self._derive()
        if state is PeerState.CONNECTED:
            self._connect_deadline = None
        self._update_path(state)
        deadlines = [
            d for d in (self._ice.get_timer(), self._dtls.get_timer(), self._connect_deadline) if d is not None
        ]
        self._timer.set(min(deadlines) if deadlines else None)
        self._set_state(state)

    def send_path_changed(self) -> None:
        """The send path may have changed (the UDP socket was lost): tell the sender."""
        if self._state is not PeerState.CLOSED:
            self._update_path(self._state)

    def _update_path(self, state: PeerState) -> None:
        """Give the sender the path media takes now: while connected or disconnected, else None."""
        path: SendPath | None = None
        target = self._ice.remote_address
        if self._srtp is not None and target is not None and state in (PeerState.CONNECTED, PeerState.DISCONNECTED):
            link = self._links.get(target)
            path = (target, self._udp_send, self._host.udp_fileno()) if link is None else (target, link.sendto, None)
        if path != self._path:
            self._path = path
            self._sender.set_path(path)

    def _set_state(self, state: PeerState) -> None:
        if state is self._state:
            return
        self._state = state
        logger.info("peer %d: %s", self.id, state.value)
        try:
            self._handler.on_state(self, state)
        except Exception:
            self._handler_failed("on_state")

    # -- output and counting --------------------------------------------------------------------

    def _send_to(self, data: bytes, addr: Address) -> None:
        link = self._links.get(addr)
        self._emit(data, addr, self._udp_send if link is None else link.sendto)

    def _emit(self, data: bytes, addr: Address, sendto: SendTo) -> None:
        sendto(data, addr)
        self._stats.packets_out += 1
        self._stats.bytes_out += len(data)

    def _malformed(self) -> None:
        self._stats.dropped_malformed += 1
        self._host.counters.dropped_malformed += 1

    def _srtp_failed(self) -> None:
        self._stats.srtp_failures += 1
        self._host.counters.srtp_auth_failures += 1

    def _handler_failed(self, what: str) -> None:
        errors = self._stats.handler_errors = self._stats.handler_errors + 1
        self._host.counters.handler_errors += 1
        if errors & (errors - 1) == 0:  # log the 1st, 2nd, 4th, 8th... failure, never per packet
            # Type and place only: an exception's message may quote the packet it choked on.
            exc = sys.exception()
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc and exc.__traceback__ else None
            logger.error(
                "peer %d: handler %s raised %s at %s (%d so far)",
                self.id,
                what,
                type(exc).__name__,
                f"{where.filename}:{where.lineno}" if where else "?",
                errors,
            )
