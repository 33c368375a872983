"""Bandwidth probing towards one connection: when to send a short burst above the estimate, and
what the feedback about that burst says the path can carry.

An estimate from feedback only rises as fast as the traffic it is fed, and a subscriber
connection's traffic is what the allocator chose to fit the estimate: without probing, a
connection that starts low stays low. A **probe cluster** (:class:`ProbeCluster`) is a burst sent
at a target rate (media when some waits, padding otherwise) for at least ``min_packets`` packets
and ``min_bytes`` bytes (:data:`MIN_PROBE_PACKETS`, and the controller's ``min_duration_s`` at the
rate: :data:`MIN_PROBE_DURATION_S`, longer on a jittery path); the pacer
(:class:`hubbub.proto.cc.pacer.Pacer`) sends it and the send path tags each of its packets with
the cluster's id.

- :class:`ProbeController` decides the clusters: initial probing at 3x and 6x the start rate; a
  further probe at 2x whenever a result comes back near the rate probed (the path had more); and
  probes the allocator asks for when a higher layer needs more than the estimate
  (:meth:`ProbeController.request`: 1x and 1.5x the need, again after 2 s, 4 s, then every 5 s
  while the estimate stays below it).
- :class:`ProbeBitrateEstimator` turns the feedback about a cluster's packets (send time, arrival
  time, size) into a rate, as libwebrtc's ProbeBitrateEstimator: the bytes received over the
  receive interval, capped by the rate they were sent at, valid only when at least 80% of the
  cluster's packets and bytes arrived and both intervals are under a second (and, when the owner
  gives a least receive interval, the packets did not arrive bunched within it).

Sans-I/O: time comes in as ``now`` (seconds); rates are bit/s.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MIN_PROBE_DURATION_S",
    "MIN_PROBE_PACKETS",
    "ProbeBitrateEstimator",
    "ProbeCluster",
    "ProbeController",
]

MIN_PROBE_PACKETS = 5
MIN_PROBE_DURATION_S = 0.015
_INITIAL_SCALES = (3.0, 6.0)  # of the start rate (libwebrtc's first and second exponential probes)
_FURTHER_SCALE = 2.0  # of the estimate, after a result near the rate probed
_FURTHER_THRESHOLD = 0.7  # a result at least this fraction of the rate probed asks for a further probe
_RESULT_TIMEOUT_S = 1.0  # exponential probing stops when no result comes this long after a cluster
_REQUEST_SCALES = (1.0, 1.5)  # of the allocator's need
_REQUEST_HOLDOFF_S = 2.0  # a need already probed this recently is not probed again ...
_MAX_REQUEST_HOLDOFF_S = 5.0  # ... the wait doubling up to this while the need is not met

_MIN_RECEIVED_RATIO = 0.8  # of the cluster's packets and bytes, for a valid result
_MAX_INTERVAL_S = 1.0
_MAX_VALID_RATIO = 2.0  # receive rate over send rate above this: timestamps are off, no result
_MIN_RATIO_FOR_UNSATURATED = 0.9  # receive rate under this fraction of the send rate: saturated
_TARGET_UTILISATION = 0.95  # of the receive rate, when the probe saturated the path
_CLUSTER_HISTORY_S = 2.0  # clusters with no packet sent for this long are forgotten


@dataclass(frozen=True, slots=True)
class ProbeCluster:
    """One burst to send: ``id`` (tag each of its packets with it), at ``bps``, for at least
    ``min_packets`` packets and ``min_bytes`` bytes."""

    id: int
    bps: float
    min_packets: int
    min_bytes: int


class ProbeController:
    """Which probe clusters one connection sends, and when.

    Each method returns the clusters to start now (often none); hand them to the pacer and to
    :meth:`ProbeBitrateEstimator.add_cluster`. :class:`hubbub.proto.cc.sendside.SendSideEstimator`
    drives one of these itself.
    """

    __slots__ = (
        "_holdoff",
        "_last_cluster_at",
        "_last_request",
        "_next_id",
        "_probed_bps",
        "_waiting",
        "max_bps",
        "min_duration_s",
    )

    def __init__(self, *, max_bps: float = 20_000_000) -> None:
        self.max_bps = max_bps
        # how long a cluster lasts at its rate, at least; the owner lengthens it on a jittery path
        self.min_duration_s = MIN_PROBE_DURATION_S
        self._next_id = 1
        self._waiting = False  # exponential probing: a result is awaited for _probed_bps
        self._probed_bps = 0.0
        self._last_cluster_at = float("-inf")
        self._last_request: tuple[float, float] = (0.0, float("-inf"))  # (need, when)
        self._holdoff = _REQUEST_HOLDOFF_S

    def _clusters(self, rates: list[float], now: float) -> list[ProbeCluster]:
        out: list[ProbeCluster] = []
        for bps in rates:
            bps = min(bps, self.max_bps)
            if out and bps <= out[-1].bps:
                continue
            out.append(
                ProbeCluster(self._next_id, bps, MIN_PROBE_PACKETS, int(bps * self.min_duration_s / 8.0)),
            )
            self._next_id += 1
        if out:
            self._last_cluster_at = now
        return out

    def start(self, start_bps: float, now: float) -> list[ProbeCluster]:
        """Initial probing, at 3x and 6x the start rate; exponential probing follows from the
        results (see :meth:`on_estimate`)."""
        clusters = self._clusters([start_bps * s for s in _INITIAL_SCALES], now)
        if clusters:
            self._waiting = True
            self._probed_bps = clusters[-1].bps
        return clusters

    def on_estimate(self, estimate_bps: float, now: float) -> list[ProbeCluster]:
        """The connection's estimate after a feedback. While exponential probing waits for a
        result, an estimate of at least 70% of the rate probed probes again at 2x the estimate;
        no such estimate within a second ends exponential probing."""
        if not self._waiting:
            return []
        if estimate_bps >= _FURTHER_THRESHOLD * self._probed_bps and self._probed_bps < self.max_bps:
            clusters = self._clusters([estimate_bps * _FURTHER_SCALE], now)
            if clusters and clusters[0].bps > self._probed_bps:
                self._probed_bps = clusters[0].bps
                return clusters
            self._waiting = False
            return []
        if now - self._last_cluster_at > _RESULT_TIMEOUT_S:
            self._waiting = False
        return []

    def request(self, need_bps: float, estimate_bps: float, now: float) -> list[ProbeCluster]:
        """The allocator needs ``need_bps`` (to go up a layer) and the estimate is
        ``estimate_bps``: probe at 1x and 1.5x the need, unless the estimate already covers it
        or the same need (or more) was probed lately: within :data:`_REQUEST_HOLDOFF_S` of the
        first probe for it, the wait doubling with each probe that did not bring the estimate
        there, up to :data:`_MAX_REQUEST_HOLDOFF_S` (each probe of a full path costs a little
        queue, and the delay-based half answers with a cut)."""
        if need_bps <= estimate_bps:
            return []
        last_need, last_at = self._last_request
        if need_bps <= last_need:
            if now - last_at < self._holdoff:
                return []
            self._holdoff = min(2.0 * self._holdoff, _MAX_REQUEST_HOLDOFF_S)
        else:
            self._holdoff = _REQUEST_HOLDOFF_S
        self._last_request = (need_bps, now)
        return self._clusters([need_bps * s for s in _REQUEST_SCALES], now)


class _ClusterStats:
    __slots__ = (
        "created",
        "first_arrival",
        "first_arrival_size",
        "first_send",
        "last_arrival",
        "last_send",
        "last_send_size",
        "min_bytes",
        "min_packets",
        "packets",
        "size",
    )

    def __init__(self, min_packets: int, min_bytes: int, created: float) -> None:
        self.created = created
        self.min_packets = min_packets
        self.min_bytes = min_bytes
        self.first_send = self.first_arrival = float("inf")
        self.last_send = self.last_arrival = float("-inf")
        self.first_arrival_size = self.last_send_size = 0
        self.packets = self.size = 0


class ProbeBitrateEstimator:
    """Rates from the feedback about probe clusters' packets.

    Register each cluster sent (:meth:`add_cluster`), feed every received packet that carried a
    cluster id (:meth:`on_packet`), then take :meth:`result` once per feedback message: the
    highest valid rate among the clusters the message reported on, or None.
    """

    __slots__ = ("_clusters", "_touched", "last_bps")

    def __init__(self) -> None:
        self._clusters: dict[int, _ClusterStats] = {}
        self._touched: set[int] = set()
        self.last_bps: float | None = None  # the latest valid result

    def add_cluster(self, cluster: ProbeCluster, now: float) -> None:
        """A cluster about to be sent (its packets' feedback is recognised by its id)."""
        self._clusters[cluster.id] = _ClusterStats(cluster.min_packets, cluster.min_bytes, now)

    def on_packet(self, cluster_id: int, send_s: float, arrival_s: float, size: int) -> None:
        """One packet of cluster ``cluster_id`` reported received (send time on our clock,
        arrival time on the receiver's)."""
        c = self._clusters.get(cluster_id)
        if c is None:
            return
        c.packets += 1
        c.size += size
        if send_s < c.first_send:
            c.first_send = send_s
        if send_s >= c.last_send:
            c.last_send = send_s
            c.last_send_size = size
        if arrival_s < c.first_arrival:
            c.first_arrival = arrival_s
            c.first_arrival_size = size
        if arrival_s > c.last_arrival:
            c.last_arrival = arrival_s
        self._touched.add(cluster_id)

    def result(self, now: float, min_receive_s: float = 0.0) -> float | None:
        """The highest valid rate among the clusters fed since the last call (bit/s), or None.
        A cluster whose packets arrived within less than ``min_receive_s`` (the owner gives a
        multiple of the path's jitter) gives none: bunched, they tell nothing of the path's rate.
        Clusters with no packet sent for :data:`_CLUSTER_HISTORY_S` are forgotten here."""
        best: float | None = None
        for cid in self._touched:
            c = self._clusters.get(cid)
            if c is None or c.last_arrival - c.first_arrival < min_receive_s:
                continue
            bps = _cluster_rate(c)
            if bps is not None and (best is None or bps > best):
                best = bps
        self._touched.clear()
        if self._clusters:
            horizon = now - _CLUSTER_HISTORY_S
            stale = [cid for cid, c in self._clusters.items() if max(c.created, c.last_send) < horizon]
            for cid in stale:
                del self._clusters[cid]
        if best is not None:
            self.last_bps = best
        return best


def _cluster_rate(c: _ClusterStats) -> float | None:
    if c.packets < _MIN_RECEIVED_RATIO * c.min_packets or c.size < _MIN_RECEIVED_RATIO * c.min_bytes:
        return None
    send_interval = c.last_send - c.first_send
    receive_interval = c.last_arrival - c.first_arrival
    if not (0 < send_interval <= _MAX_INTERVAL_S and 0 < receive_interval <= _MAX_INTERVAL_S):
        return None
    # the last packet sent ends the send interval and the first received starts the receive one:
    # neither one's bytes belong inside its interval
    send_bps = (c.size - c.last_send_size) * 8.0 / send_interval
    receive_bps = (c.size - c.first_arrival_size) * 8.0 / receive_interval
    if receive_bps > _MAX_VALID_RATIO * send_bps:
        return None
    if receive_bps < _MIN_RATIO_FOR_UNSATURATED * send_bps:
        return _TARGET_UTILISATION * receive_bps
    return min(send_bps, receive_bps)
