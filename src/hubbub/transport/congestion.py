"""Send-side congestion control of one connection: transport-wide sequence numbers, the estimate
from the receiver's feedback, and the probes that find out whether the path carries more.

Theory of operation
-------------------
A subscriber connection that negotiated transport-wide CC (``PeerTransport.set_transport_cc``)
has one :class:`SendControl`. Its sender (:mod:`hubbub.transport.sender`) writes the next
transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01) into every
RTP packet it sends, media, retransmissions and padding alike, whichever path sent it (the C
fan-out or Python), and records the number, the size on the wire and the send time
(``Sender.take_sent``). The subscriber returns RTCP transport-wide feedback, every 50-100 ms,
saying which numbers arrived and when; :meth:`SendControl.on_rtcp` hands the records and the
feedback to a :class:`hubbub.proto.cc.sendside.SendSideEstimator` (GCC: delay-based trendline,
loss-based, acknowledged bitrate, probe results), whose target is :attr:`SendControl.estimate_bps`:
what the SFU's allocator shares among the subscriber's tracks.

Probing. The estimate only rises as fast as the traffic proves the path, and the allocator sends
only what fits the estimate; so the estimator decides probe clusters (initially, when a result
comes back near the rate probed, and when the allocator asks for the rate of a higher layer:
:meth:`SendControl.request_probe`). A :class:`hubbub.proto.cc.pacer.Pacer` spreads each cluster
at its rate as padding-only RTP packets on a video's RTX stream (RFC 4588), made by the SFU
(:attr:`SendControl.padding`); the sender tags them with the cluster, so the estimator can read
the rate they arrived at. Media itself is not queued here: a forwarded stream is already paced
by its publisher, and holding it in Python would cost the fan-out its C path; the pacer runs
only while a probe does.

Costs: stamping is in the sender, a few bytes written per packet (in C on the native path); the
estimator's work is per packet reported, once per feedback message, in Python.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hubbub.proto.cc.pacer import Pacer
from hubbub.proto.cc.sendside import SendSideEstimator
from hubbub.proto.rtcp import PT_RTPFB, TransportCc, iter_rtcp_raw
from hubbub.proto.rtcp_feedback import FMT_TWCC
from hubbub.transport.sender import Sender

__all__ = ["START_BPS", "SendControl"]

log = logging.getLogger(__name__)

START_BPS = 1_000_000  # where the estimate starts (libwebrtc: 300 kbit/s); probed at 3x and 6x at once
SETTLE_S = 2.0  # the estimate is not shared out before a probe result or this long after the first feedback
MIN_BPS = 50_000
MAX_BPS = 20_000_000
# padding(size) -> a padding-only RTP packet of about size bytes, or None when none can be made
Padding = Callable[[int], bytes | None]


class SendControl:
    """The estimate of one connection from its transport-wide feedback (module docstring)."""

    __slots__ = (
        "_first_feedback",
        "_handle",
        "_loop",
        "_now",
        "_sender",
        "_start_bps",
        "_wake",
        "estimator",
        "malformed",
        "pacer",
        "padding",
    )

    def __init__(
        self,
        sender: Sender,
        loop: asyncio.AbstractEventLoop,
        now: Callable[[], float],
        *,
        start_bps: float = START_BPS,
    ) -> None:
        self._sender = sender
        self._loop = loop
        self._now = now
        self.estimator = SendSideEstimator(start_bps=start_bps, min_bps=MIN_BPS, max_bps=MAX_BPS)
        self.pacer: Pacer[bytes] = Pacer(self.estimator.pacing_bps, padding=self._pad)
        self.padding: Padding | None = None
        self.malformed = 0  # feedback messages that did not parse
        # the pacer's next run; its handle may be a plain Handle (uvloop, for a time already past)
        self._handle: asyncio.Handle | None = None
        self._wake = 0.0
        self._start_bps = start_bps
        self._first_feedback: float | None = None
        self.estimator.start(now())
        self._schedule()

    @property
    def estimate_bps(self) -> float | None:
        """The rate the connection may carry now (bit/s); None until the initial probes have
        answered, the path has pushed back (the estimate fell below where it started) or
        :data:`SETTLE_S` after the first feedback (a receiver that never sends any is not held
        to the start rate, nor one whose path is still being measured; one whose path is
        congested already is, at once, before its queue overflows for seconds)."""
        est = self.estimator
        first = self._first_feedback
        if first is None:
            return None
        if not est.probe_results and est.target_bps >= self._start_bps and self._now() - first < SETTLE_S:
            return None
        return est.target_bps

    def on_rtcp(self, packet: bytes, now: float) -> None:
        """A compound RTCP packet from the receiver: its transport-wide feedback is read here."""
        est = self.estimator
        found = False
        try:
            for pt, fmt, start, end in iter_rtcp_raw(packet):
                if pt == PT_RTPFB and fmt == FMT_TWCC:
                    if not found:
                        self._take_sent()
                        found = True
                    est.on_feedback(TransportCc.parse(packet[start:end]), now)
        except ValueError:
            self.malformed += 1
        if found:
            if self._first_feedback is None:
                self._first_feedback = now
            self.pacer.set_rates(est.pacing_bps)
            self._probe()

    def set_padding_rate(self, bps: float) -> None:
        """Pad at ``bps`` (0: not at all): what the allocation leaves of the estimate while a video
        waits below what its subscriber wants. The path is then shown carrying the estimate, so
        the estimate is not held at 1.5x a rate the allocation itself chose (AIMD's cap)."""
        bps = max(0.0, min(bps, self.estimator.target_bps)) if self.padding is not None else 0.0
        if (bps == 0.0) == (self.pacer.padding_bps == 0.0) and abs(bps - self.pacer.padding_bps) < 10_000:
            return
        self.pacer.set_rates(self.estimator.pacing_bps, bps)
        self._schedule()

    def request_probe(self, need_bps: float, now: float) -> None:
        """The allocator wants ``need_bps`` on this connection (the next layer up): probe for it."""
        self.estimator.request_probe(need_bps, now)
        self._probe()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.padding = None

    # -- sending -------------------------------------------------------------------------------

    def _take_sent(self) -> None:
        on_sent = self.estimator.on_sent
        for seq, size, cluster, when in self._sender.take_sent():
            on_sent(seq, size, when, cluster if cluster >= 0 else None)

    def _probe(self) -> None:
        if self.padding is None:  # the clusters wait until something can make their padding
            return
        clusters = self.estimator.take_probes()
        for cluster in clusters:
            self.pacer.probe(cluster)
        if clusters:
            self._schedule()

    def _pad(self, size: int) -> tuple[bytes, int] | None:
        make = self.padding
        packet = make(size) if make is not None else None
        return (packet, len(packet)) if packet is not None else None

    def _schedule(self) -> None:
        now = self._now()
        wake = self.pacer.next_wakeup(now)
        if wake is None:
            return
        if self._handle is not None:
            if self._wake <= wake:
                return
            self._handle.cancel()
        self._wake = wake
        self._handle = self._loop.call_at(wake, self._run)

    def _run(self) -> None:
        self._handle = None
        pacer, sender = self.pacer, self._sender
        items = pacer.pop(self._now())
        if items:
            cluster = pacer.pop_cluster
            sender.probe_cluster = cluster if cluster is not None else -1
            try:
                for item in items:
                    sender.send_rtp(item)
            finally:
                sender.probe_cluster = -1
        self._schedule()
