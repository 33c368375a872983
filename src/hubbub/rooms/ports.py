"""What rooms need of the transport below: peer connections to create and the server's ICE/DTLS face.

:class:`hubbub.transport.RtcTransportServer` and its :class:`~hubbub.transport.PeerTransport`
satisfy these; tests give rooms a fake that opens no socket.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hubbub.proto.sdp import Candidate
from hubbub.sfu.fanout import Fanout
from hubbub.sfu.types import PacketSink
from hubbub.transport import PeerHandler, PeerState


class MediaPeer(PacketSink, Protocol):
    """One peer connection (ICE-lite, DTLS-SRTP) as a room's media drives it."""

    @property
    def ice_ufrag(self) -> str: ...

    @property
    def ice_pwd(self) -> str: ...

    @property
    def state(self) -> PeerState: ...

    @property
    def over_tcp(self) -> bool:
        """True when media goes over an ICE-TCP connection."""
        ...

    def restart_ice(self, remote_ufrag: str | None, remote_pwd: str | None) -> tuple[str, str]: ...

    def set_remote_credentials(self, remote_ufrag: str, remote_pwd: str) -> None: ...

    def set_remote_fingerprints(self, fingerprints: Sequence[tuple[str, str]]) -> None: ...

    def set_transport_cc(self, ext_id: int | None) -> None:
        """Stamp every RTP packet sent with a transport-wide sequence number under header
        extension ``ext_id`` and estimate the send rate from the feedback; None: neither."""
        ...

    def close(self) -> None: ...


class MediaTransport(Protocol):
    """The server's transport: one clock for the router, peers, and what SDP advertises."""

    @property
    def fanout(self) -> Fanout | None:
        """The native fan-out groups, when the transport's native sender is built."""
        ...

    @property
    def fingerprint(self) -> tuple[str, str]: ...

    def now(self) -> float: ...

    def new_ufrag(self) -> str: ...

    def local_candidates(self, ufrag: str | None = None) -> list[Candidate]: ...

    def create_peer(
        self,
        handler: PeerHandler,
        *,
        remote_ufrag: str | None = None,
        remote_pwd: str | None = None,
        remote_fingerprints: Sequence[tuple[str, str]] = (),
    ) -> MediaPeer: ...
