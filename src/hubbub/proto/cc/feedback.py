"""The receive side of transport-wide congestion control: feedback to one publisher connection.

A publisher that negotiated transport-cc (draft-holmer-rmcat-transport-wide-cc-extensions-01)
numbers every RTP packet it sends on the connection (media, retransmissions and padding probes
alike) in one header extension and estimates its own send rate from the feedback: which of those
packets arrived, and when. Without that feedback libwebrtc's estimate never rises, so a call runs
at a few tens of kbit/s however good the network is.

:class:`TransportFeedback` keeps the arrival time of each numbered packet (the router's ``now``,
taken as the packet leaves the transport) and, when :meth:`TransportFeedback.due`, builds the
RTCP transport-cc messages (:class:`hubbub.proto.rtcp_feedback.TransportCc`) that report every
sequence number from the first one not reported yet to the highest one received: a number with no
arrival is reported lost. A packet that arrives after its number was reported (reordered across a
feedback) is not reported again, as libwebrtc's receiver does. Sans-I/O: time comes in as ``now``.
"""

from __future__ import annotations

from hubbub.proto import rtp_ext
from hubbub.proto.rtcp_feedback import TransportCc

__all__ = ["FEEDBACK_INTERVAL", "MAX_STATUSES", "TransportFeedback"]

FEEDBACK_INTERVAL = 0.05  # seconds between feedback messages while packets arrive (libwebrtc: 50-250 ms)
MAX_STATUSES = 1000  # sequence numbers per message: about 1.2 kB at most, well under an MTU
_MAX_GAP = 0x4000  # a jump this far past what was reported restarts the window instead of reporting it all lost


class TransportFeedback:
    """Arrival times of one publisher connection's transport-wide sequence numbers, and the
    feedback that reports them.

    ``ext_id`` is the negotiated id of the transport-wide-cc header extension; ``sender_ssrc`` is
    ours (the router's RTCP SSRC).
    """

    __slots__ = (
        "_arrivals",
        "_last",
        "_next",
        "ext_id",
        "fb_count",
        "late",
        "media_ssrc",
        "next_send",
        "sender_ssrc",
        "sent",
    )

    def __init__(self, ext_id: int, sender_ssrc: int) -> None:
        self.ext_id = ext_id
        self.sender_ssrc = sender_ssrc
        self.media_ssrc = 0  # the SSRC of the latest numbered packet, as libwebrtc reports it
        self._arrivals: dict[int, int] = {}  # unwrapped sequence number -> arrival time, microseconds
        self._last = -1  # the latest unwrapped sequence number seen (the unwrapping reference)
        self._next = -1  # the first unwrapped sequence number not reported yet
        self.next_send = float("-inf")
        self.fb_count = 0  # messages sent (their 8-bit feedback packet count wraps)
        self.sent = 0
        self.late = 0  # packets that arrived after their number was reported

    def on_packet(self, packet: bytes, ssrc: int, now: float) -> None:
        """Record one RTP packet's arrival (a packet without the extension is ignored).

        May raise ``ValueError`` on a malformed header extension block, as the router's other
        header reads do."""
        if not packet[0] & 0x10:
            return
        pos = rtp_ext.find_ext_offset(packet, 12 + (packet[0] & 0x0F) * 4, self.ext_id)
        if pos < 0 or pos + 2 > len(packet):
            return
        seq16 = (packet[pos] << 8) | packet[pos + 1]
        last = self._last
        # unwrapped against the latest; the first gets room below it for reordered ones
        seq = seq16 + 0x10000 if last < 0 else last + ((seq16 - last + 0x8000) & 0xFFFF) - 0x8000
        if seq > last:
            self._last = seq
        if self._next < 0:
            self._next = seq
        elif seq < self._next:
            self.late += 1
            return
        elif seq - self._next > _MAX_GAP and not self._arrivals:
            self._next = seq
        self.media_ssrc = ssrc
        self._arrivals.setdefault(seq, int(now * 1_000_000))

    def due(self, now: float) -> bool:
        return now >= self.next_send and bool(self._arrivals)

    def build(self, now: float) -> list[bytes]:
        """The messages that report everything since the last ones (none if nothing arrived)."""
        self.next_send = now + FEEDBACK_INTERVAL
        arrivals = self._arrivals
        if not arrivals:
            return []
        self._arrivals = {}
        first, last = self._next, max(arrivals)
        if last - first > _MAX_GAP:  # a sequence jump: report from the first arrival after it
            first = min(s for s in arrivals if s > last - _MAX_GAP)
        self._next = last + 1
        messages: list[bytes] = []
        start = first
        while start <= last:
            end = min(last, start + MAX_STATUSES - 1)
            window: dict[int, int | None] = {s: t for s, t in arrivals.items() if start <= s <= end}
            if window:
                window.setdefault(start, None)  # leading losses: the window starts where the last one ended
                messages += self._messages(window)
            start = end + 1
        return messages

    def _messages(self, window: dict[int, int | None]) -> list[bytes]:
        try:
            feedback = TransportCc.from_arrivals(self.sender_ssrc, self.media_ssrc, window, self.fb_count)
        except ValueError:  # a receive delta over 16 bits (more than 8 s between two arrivals): split
            seqs = sorted(window)
            if len(seqs) < 2:
                return []
            half = len(seqs) // 2
            low = {s: window[s] for s in seqs[:half]}
            high: dict[int, int | None] = {seqs[half - 1] + 1: None}  # the numbers between the halves
            high.update((s, window[s]) for s in seqs[half:])
            if all(t is None for t in low.values()):
                return self._messages(high)
            if all(t is None for t in high.values()):
                return self._messages(low)
            return self._messages(low) + self._messages(high)
        self.fb_count += 1
        self.sent += 1
        return [bytes(feedback)]
