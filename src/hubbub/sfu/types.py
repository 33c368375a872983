"""The SFU's view of a peer's transport, shared by the tracks and the fan-out."""

from __future__ import annotations

from typing import Protocol

__all__ = ["PacketSink"]


class PacketSink(Protocol):
    """A peer's transport as the SFU sees it: plain RTP/RTCP out (SRTP happens below)."""

    def send_rtp(self, packet: bytes) -> None: ...

    def send_rtcp(self, packet: bytes) -> None: ...
