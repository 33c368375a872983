"""The rate feedback the SFU gives one publisher connection, whichever kind it negotiated.

:func:`publisher_feedback` picks it from the header extensions the connection's packets carry:
transport-wide CC (:class:`hubbub.proto.cc.feedback.TransportFeedback`) when they carry
transport-wide sequence numbers; none otherwise. The router treats every kind alike through
:class:`PublisherFeedback`: each packet goes in, and the RTCP messages that are due come out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from hubbub.proto import rtp_ext
from hubbub.proto.cc.feedback import TransportFeedback

__all__ = ["PublisherFeedback", "publisher_feedback"]


class PublisherFeedback(Protocol):
    """Feedback about one publisher connection's packets. ``next_send``: when a message is due
    at the latest while packets arrive."""

    next_send: float

    def on_packet(self, packet: bytes, ssrc: int, now: float) -> None:
        """One RTP packet of the connection (any SSRC, retransmissions and padding included).
        May raise ``ValueError`` on a malformed header extension block."""

    def due(self, now: float) -> bool:
        """Something is owed (for the periodic tick, once packets stop)."""

    def build(self, now: float) -> list[bytes]:
        """The RTCP messages to send now (possibly none); resets ``next_send``."""


def publisher_feedback(ext_ids: Mapping[str, int], sender_ssrc: int) -> PublisherFeedback | None:
    """The feedback for a publisher connection with these negotiated header extensions (URI ->
    id), sent from ``sender_ssrc``; None when it negotiated nothing that feedback could serve."""
    twcc = ext_ids.get(rtp_ext.URI_TRANSPORT_CC)
    if twcc is not None:
        return TransportFeedback(twcc, sender_ssrc)
    return None
