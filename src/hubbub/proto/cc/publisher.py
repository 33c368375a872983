"""The rate feedback the SFU gives one publisher connection, whichever kind it negotiated.

:func:`publisher_feedback` picks it from the header extensions the connection's packets carry:
transport-wide CC (:class:`hubbub.proto.cc.feedback.TransportFeedback`) when they carry
transport-wide sequence numbers, so that the publisher estimates its own rate; else a
receive-side estimate sent as REMB (:class:`hubbub.proto.cc.remote.RemoteEstimator`) when they
carry abs-send-time; none otherwise. :func:`served_feedback` names the same choice as the SDP
rtcp-fb value, so that an answer offers only the feedback that is served. The router treats
every kind alike through :class:`PublisherFeedback`: each packet goes in, and the RTCP messages
that are due come out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from hubbub.proto import rtp_ext
from hubbub.proto.cc.feedback import TransportFeedback
from hubbub.proto.cc.remote import RemoteEstimator

__all__ = ["FB_REMB", "FB_TRANSPORT_CC", "PublisherFeedback", "publisher_feedback", "served_feedback"]

FB_TRANSPORT_CC = "transport-cc"  # the rtcp-fb values (draft-holmer-rmcat-transport-wide-cc-extensions-01 §4)
FB_REMB = "goog-remb"  # draft-alvestrand-rmcat-remb-03 §2.1


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


def served_feedback(uris: Collection[str]) -> str | None:
    """The rtcp-fb value of the rate feedback a connection with these header extensions gets
    (``transport-cc``, ``goog-remb``), or None."""
    if rtp_ext.URI_TRANSPORT_CC in uris:
        return FB_TRANSPORT_CC
    if rtp_ext.URI_ABS_SEND_TIME in uris:
        return FB_REMB
    return None


def publisher_feedback(ext_ids: Mapping[str, int], sender_ssrc: int) -> PublisherFeedback | None:
    """The feedback for a publisher connection with these negotiated header extensions (URI ->
    id), sent from ``sender_ssrc``; None when it negotiated nothing that feedback could serve."""
    kind = served_feedback(ext_ids)
    if kind == FB_TRANSPORT_CC:
        return TransportFeedback(ext_ids[rtp_ext.URI_TRANSPORT_CC], sender_ssrc)
    if kind == FB_REMB:
        return RemoteEstimator(ext_ids[rtp_ext.URI_ABS_SEND_TIME], sender_ssrc)
    return None
