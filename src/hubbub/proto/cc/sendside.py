"""The send-side estimate of one connection: the rate the SFU may send a subscriber, from the
transport-wide feedback that subscriber returns (GCC, draft-ietf-rmcat-gcc-02, as libwebrtc's
send-side estimation runs it).

Theory of operation. Every RTP packet the SFU sends on the connection carries a transport-wide
sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01), media, retransmissions and
padding alike. :meth:`SendSideEstimator.on_sent` records each one's send time, size and probe
cluster in a ring indexed by that number; the subscriber's feedback
(:class:`hubbub.proto.rtcp_feedback.TransportCc`) says which arrived and when, on its own clock.
:meth:`SendSideEstimator.on_feedback` matches the two and feeds, per packet reported received (in
arrival order):

- the delay-based detector (:class:`hubbub.proto.cc.delay.DelayDetector`: send time, arrival
  time, size), whose usage signal drives :class:`hubbub.proto.cc.aimd.AimdRateControl`;
- the acknowledged bitrate (:class:`hubbub.proto.cc.acked.AckedBitrate`), the rate the path
  delivered, which AIMD decreases from and caps its increase by;
- the probe results (:class:`hubbub.proto.cc.probe.ProbeBitrateEstimator`) for packets that
  carried a cluster id;

and, per message, the counts of received and lost packets to the loss-based controller
(:class:`hubbub.proto.cc.loss.LossBasedEstimator`), with the queueing delay those packets saw
(their one-way delay over the lowest of the last 30 s), which tells it congestion loss (a full
queue) from the path's own.

The target is the lower of the delay-based and loss-based rates (the loss-based one is capped at
the delay-based one, so neither runs away from the other). A valid probe result above the target,
on a path that is not overusing and has no standing queue (under 100 ms of queueing delay), raises
both halves to it at once: the estimate jumps to what the burst proved instead of climbing 8% a
second. A path with a standing queue is full whatever a probe says; and since jitter can bunch a
probe's few packets into what reads as a rate the path does not have, clusters last at least 4x
the measured jitter and one whose packets arrived within 2x it gives no result. The probe
controller (:class:`hubbub.proto.cc.probe.ProbeController`) then decides whether to probe further;
the clusters it, :meth:`SendSideEstimator.start` and :meth:`SendSideEstimator.request_probe`
decide wait in :meth:`SendSideEstimator.take_probes` for the pacer.

Driving it from a send path, with a :class:`hubbub.proto.cc.pacer.Pacer`::

    est = SendSideEstimator(start_bps=1_000_000)
    est.start(now)                                   # initial probing
    ...
    for item in pacer.pop(now):                      # per packet sent, in send order:
        seq = next_transport_seq(); stamp(item, seq)
        est.on_sent(seq, size_of(item), now, pacer.pop_cluster)
    ...
    est.on_feedback(TransportCc.parse(rtcp), now)    # per feedback message
    pacer.set_rates(est.pacing_bps)
    for cluster in est.take_probes():
        pacer.probe(cluster)
    est.request_probe(need_bps, now)                 # the allocator wants a higher layer

Costs: :meth:`on_sent` is one tuple stored in a list and a counter; :meth:`on_feedback` is a loop
over the packets it reports (plus the delay detector's work per packet). Sizes are bytes as sent (RTP
header, extensions, payload, padding). Sans-I/O: time comes in as ``now`` (seconds, our clock);
rates are bit/s.
"""

from __future__ import annotations

from collections import deque
from operator import itemgetter

from hubbub.proto.cc.acked import AckedBitrate
from hubbub.proto.cc.aimd import AimdRateControl
from hubbub.proto.cc.delay import DelayDetector, Usage
from hubbub.proto.cc.loss import LossBasedEstimator
from hubbub.proto.cc.pacer import PACING_FACTOR
from hubbub.proto.cc.probe import MIN_PROBE_DURATION_S, ProbeBitrateEstimator, ProbeCluster, ProbeController
from hubbub.proto.rtcp_feedback import TWCC_REFERENCE_US, TransportCc

__all__ = ["HISTORY", "SendSideEstimator"]

HISTORY = 4096  # packets remembered for feedback to match (a power of two; 2.4 s at 20 Mbit/s)
_REFERENCE_SPAN_US = (1 << 24) * TWCC_REFERENCE_US  # the 24-bit reference time wraps after this
_RTT_ALPHA = 0.125  # smoothing of the round trip measured from feedback
_BASE_WINDOW_S = 30.0  # the path's lowest one-way delay is taken over this long
_PROBE_MAX_QUEUE_S = 0.1  # a probe result counts only while the queueing delay is under this
_MAX_PROBE_DURATION_S = 0.06  # clusters last 4x the jitter, up to this; arrivals within 2x tell nothing
_by_arrival = itemgetter(0)


class SendSideEstimator:
    """The target rate of one connection (see the module's theory of operation).

    Read :attr:`target_bps` (and :attr:`pacing_bps`) after each :meth:`on_feedback`; the parts
    are :attr:`delay_bps`, :attr:`loss_bps`, :attr:`acked_bps`, :attr:`usage`, :attr:`rtt_s`, and
    :attr:`queue_delay_s` (the mean queueing delay of the last message's packets: their one-way
    delay over the lowest of the last 30 s) and :attr:`jitter_s` (RFC 3550's interarrival jitter of
    the packets reported).
    Counters: :attr:`feedbacks`, :attr:`acked`, :attr:`lost` (reported lost),
    :attr:`unknown` (reported, never recorded or too old), :attr:`probe_results`. For a send path
    that holds back when feedback stops (libwebrtc's congestion window): :attr:`in_flight_bytes`
    (sent and not yet reported; a packet whose record the ring overwrote unreported leaves it) and
    :attr:`last_feedback_at` (``now`` of the last message, None before the first).
    """

    __slots__ = (
        "_arrival_offset_us",
        "_last_arrival_us",
        "_mask",
        "_owd_mins",
        "_prev_owd",
        "_probes",
        "_records",
        "_rtt_given",
        "acked",
        "acked_bitrate",
        "aimd",
        "delay",
        "feedbacks",
        "in_flight_bytes",
        "jitter_s",
        "last_feedback_at",
        "loss",
        "lost",
        "probe_bitrate",
        "probe_controller",
        "probe_results",
        "queue_delay_s",
        "rtt_s",
        "target_bps",
        "unknown",
        "usage",
    )

    def __init__(
        self,
        *,
        start_bps: float = 300_000,
        min_bps: float = 30_000,
        max_bps: float = 20_000_000,
        history: int = HISTORY,
    ) -> None:
        if history <= 0 or history & (history - 1):
            raise ValueError("history must be a power of two")
        self._mask = history - 1
        # ring by transport seq: (seq16, send_s, size, cluster id or None, reported lost); None
        # once reported received
        self._records: list[tuple[int, float, int, int | None, bool] | None] = [None] * history
        self.delay = DelayDetector()
        self.aimd = AimdRateControl(start_bps=start_bps, min_bps=min_bps, max_bps=max_bps)
        self.loss = LossBasedEstimator(start_bps=start_bps, min_bps=min_bps, max_bps=max_bps)
        self.acked_bitrate = AckedBitrate()
        self.probe_bitrate = ProbeBitrateEstimator()
        self.probe_controller = ProbeController(max_bps=max_bps)
        self._probes: list[ProbeCluster] = []
        self._arrival_offset_us = 0
        self._last_arrival_us: int | None = None
        self._rtt_given = False
        self._owd_mins: deque[tuple[float, float]] = deque()  # sliding minimum: (when, lowest)
        self.queue_delay_s = 0.0
        self.jitter_s = 0.0
        self._prev_owd: float | None = None
        self.in_flight_bytes = 0  # sent, not yet reported received or lost
        self.last_feedback_at: float | None = None
        self.rtt_s = 0.1
        self.target_bps = min(self.aimd.target_bps, self.loss.estimate_bps)
        self.usage = Usage.NORMAL
        self.feedbacks = self.acked = self.lost = self.unknown = self.probe_results = 0

    # -- readings ------------------------------------------------------------------------------

    @property
    def pacing_bps(self) -> float:
        """The rate to pace at: :data:`hubbub.proto.cc.pacer.PACING_FACTOR` x the target."""
        return PACING_FACTOR * self.target_bps

    @property
    def delay_bps(self) -> float:
        return self.aimd.target_bps

    @property
    def loss_bps(self) -> float:
        return self.loss.estimate_bps

    @property
    def acked_bps(self) -> float | None:
        return self.acked_bitrate.rate_bps

    # -- probes --------------------------------------------------------------------------------

    def _add_probes(self, clusters: list[ProbeCluster], now: float) -> None:
        for c in clusters:
            self.probe_bitrate.add_cluster(c, now)
            self._probes.append(c)

    def start(self, now: float) -> None:
        """Initial probing (3x and 6x the start rate); the clusters wait in :meth:`take_probes`."""
        self._add_probes(self.probe_controller.start(self.target_bps, now), now)

    def request_probe(self, need_bps: float, now: float) -> None:
        """The allocator needs ``need_bps`` on this connection (to go up a layer): probe for it
        unless the target covers it already or it was probed just now."""
        self._add_probes(self.probe_controller.request(need_bps, self.target_bps, now), now)

    def take_probes(self) -> list[ProbeCluster]:
        """The probe clusters decided since the last call, for :meth:`Pacer.probe`."""
        probes, self._probes = self._probes, []
        return probes

    # -- input ---------------------------------------------------------------------------------

    def on_rtt(self, rtt_s: float) -> None:
        """The connection's round-trip time (from RTCP); until the first, the estimator uses the
        time from sending a packet to the feedback about it."""
        self._rtt_given = True
        self._set_rtt(rtt_s)

    def _set_rtt(self, rtt_s: float) -> None:
        self.rtt_s = rtt_s
        self.aimd.set_rtt(rtt_s)
        self.loss.set_rtt(rtt_s)

    def on_sent(self, tseq16: int, size: int, now: float, probe_cluster: int | None = None) -> None:
        """One packet sent with transport-wide sequence number ``tseq16``, ``size`` bytes, as
        part of probe cluster ``probe_cluster`` (None: not a probe)."""
        i = tseq16 & self._mask
        old = self._records[i]
        if old is not None and not old[4]:  # never reported: no longer in flight either
            self.in_flight_bytes -= old[2]
        self._records[i] = (tseq16, now, size, probe_cluster, False)
        self.in_flight_bytes += size

    def on_feedback(self, feedback: TransportCc, now: float) -> float:
        """One transport-cc feedback message from the receiver; returns the new target."""
        results = feedback.packet_results()
        if not results:
            return self.target_bps
        self.feedbacks += 1
        self.last_feedback_at = now
        records, mask = self._records, self._mask
        received: list[tuple[float, float, int, int | None]] = []
        lost = unknown = lost_bytes = acked_bytes = 0
        offset = self._unwrap_offset(results)
        ordered = True
        last_arrival = float("-inf")
        for seq, arrival_us in results:
            i = seq & mask
            rec = records[i]
            if rec is None or rec[0] != seq:
                unknown += 1
                continue
            if arrival_us is None:
                if not rec[4]:
                    lost += 1
                    lost_bytes += rec[2]
                    records[i] = (seq, rec[1], rec[2], rec[3], True)
                continue
            records[i] = None
            if not rec[4]:
                acked_bytes += rec[2]
            arrival_s = (arrival_us + offset) * 1e-6
            if arrival_s < last_arrival:
                ordered = False
            last_arrival = arrival_s
            received.append((arrival_s, rec[1], rec[2], rec[3]))
        self.unknown += unknown
        self.lost += lost
        self.in_flight_bytes -= lost_bytes + acked_bytes
        self.acked += len(received)
        if not received:
            if lost:
                self.loss.on_packets(lost, lost, now, self.acked_bitrate.rate_bps)
            return self._combine(now)
        if not ordered:
            received.sort(key=_by_arrival)
        detect, ack, probes = self.delay.update, self.acked_bitrate.on_packet, self.probe_bitrate
        newest_send = float("-inf")
        probed = False
        owd_sum = 0.0
        owd_min = float("inf")
        jitter = self.jitter_s
        prev_owd = self._prev_owd if self._prev_owd is not None else received[0][0] - received[0][1]
        for arrival_s, send_s, size, cluster in received:
            detect(send_s, arrival_s, size)
            ack(arrival_s, size)
            if cluster is not None:
                probes.on_packet(cluster, send_s, arrival_s, size)
                probed = True
            if send_s > newest_send:
                newest_send = send_s
            owd = arrival_s - send_s  # one-way delay plus the clocks' offset
            owd_sum += owd
            if owd < owd_min:
                owd_min = owd
            # RFC 3550 §6.4.1's interarrival jitter, over consecutive arrivals
            d = owd - prev_owd
            jitter += ((d if d > 0 else -d) - jitter) * 0.0625
            prev_owd = owd
        self._prev_owd = prev_owd
        self.jitter_s = jitter
        self.probe_controller.min_duration_s = min(max(MIN_PROBE_DURATION_S, 4.0 * jitter), _MAX_PROBE_DURATION_S)
        # the mean, not the least: a shallow buffer that drops the tails of bursts empties between
        # them, and its drops must still count as congestion
        self.queue_delay_s = owd_sum / len(received) - self._base_delay(owd_min, now)
        if not self._rtt_given and newest_send <= now:
            sample = now - newest_send
            self._set_rtt(sample if self.feedbacks == 1 else self.rtt_s + _RTT_ALPHA * (sample - self.rtt_s))
        self.usage = usage = self.delay.usage
        incoming = self.acked_bitrate.rate_bps
        self.loss.on_packets(lost, lost + len(received), now, incoming, self.queue_delay_s)
        probe_bps = probes.result(now, 2.0 * jitter) if probed else None
        if probe_bps is not None and usage is not Usage.OVERUSING and self.queue_delay_s < _PROBE_MAX_QUEUE_S:
            self.probe_results += 1
            # the probe showed the path delivering probe_bps: that is the incoming rate now (and
            # AIMD's capacity estimate, if below it, is stale)
            self.aimd.update(usage, max(incoming or 0.0, probe_bps), now)
            if probe_bps > self.aimd.target_bps:
                self.aimd.set_estimate(probe_bps, now)
            if probe_bps > self.loss.estimate_bps:
                self.loss.set_estimate(probe_bps, now)
        else:
            self.aimd.update(usage, incoming, now)
        return self._combine(now)

    def _combine(self, now: float) -> float:
        delay_bps = self.aimd.target_bps
        self.loss.cap(delay_bps)
        self.target_bps = min(delay_bps, self.loss.estimate_bps)
        self._add_probes(self.probe_controller.on_estimate(self.target_bps, now), now)
        return self.target_bps

    def _base_delay(self, owd_min: float, now: float) -> float:
        """The lowest one-way delay (plus the clocks' offset) over the last :data:`_BASE_WINDOW_S`,
        a sliding minimum of each message's lowest."""
        mins = self._owd_mins
        while mins and mins[-1][1] >= owd_min:
            mins.pop()
        mins.append((now, owd_min))
        horizon = now - _BASE_WINDOW_S
        while mins[0][0] < horizon:
            mins.popleft()
        return mins[0][1]

    def _unwrap_offset(self, results: list[tuple[int, int | None]]) -> int:
        """The offset that keeps the receiver's arrival clock monotonic across the wrap of the
        feedback's 24-bit reference time (about every 12 days of the receiver's clock)."""
        first = next((t for _, t in results if t is not None), None)
        if first is None:
            return self._arrival_offset_us
        last = self._last_arrival_us
        if last is not None:
            jump = first + self._arrival_offset_us - last
            if jump < -_REFERENCE_SPAN_US // 2:
                self._arrival_offset_us += _REFERENCE_SPAN_US
            elif jump > _REFERENCE_SPAN_US // 2:
                self._arrival_offset_us -= _REFERENCE_SPAN_US
        self._last_arrival_us = first + self._arrival_offset_us
        return self._arrival_offset_us
