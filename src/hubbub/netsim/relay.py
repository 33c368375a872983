"""The relay: UDP (and ICE-TCP) between clients and one target address, impaired in each direction.

Each client source address (and each TCP connection) is a *flow* with its own upstream socket, so
the target sees one 5-tuple per client (an ICE-lite server binds a peer by its source address),
and its own pair of :class:`~hubbub.netsim.engine.Link` engines: ``up`` for what the client sends,
``down`` for the replies. A packet goes to its link on arrival (``now`` is the loop's clock) and
is sent at each release time the link gives, with ``loop.call_at``; how late the loop really sent
it is measured (``late_ms_*`` in :meth:`Relay.stats`). TCP carries RFC 4571 frames: the links
delay, rate-limit and drop whole frames, and never reorder them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hubbub.netsim.engine import Impairment, Link, LinkStats
from hubbub.netsim.framing import Deframer, frame
from hubbub.netsim.profiles import profile
from hubbub.netsim.timeline import Timeline

Address = tuple[str, int]
# An impairment, or the name of a profile (its half for that direction), or None (clean).
ImpairmentSpec = Impairment | str | None


def resolve(spec: ImpairmentSpec, direction: str) -> Impairment:
    if spec is None:
        return Impairment()
    if isinstance(spec, str):
        chosen = profile(spec)
        return chosen.up if direction == "up" else chosen.down
    return spec


@dataclass
class _Lateness:
    """How late the loop sent packets after their release time."""

    count: int = 0
    total: float = 0.0
    worst: float = 0.0

    def note(self, late: float) -> None:
        self.count += 1
        self.total += late
        self.worst = max(self.worst, late)


@dataclass
class _Flow:
    up: Link
    down: Link
    client: Address
    upstream: asyncio.DatagramTransport | None = None
    waiting: list[bytes] = field(default_factory=list)  # released before the upstream socket was ready
    closed: bool = False


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay, flow: _Flow) -> None:
        self.relay = relay
        self.flow = flow

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._from_target(self.flow, data)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.relay._from_client(data, (addr[0], addr[1]))


class Relay:
    """``async with Relay(listen, to, up=..., down=...) as relay:`` clients send to ``relay.address``.

    ``up``/``down`` (or ``profile`` for both) take an :class:`Impairment` or a profile name.
    ``tcp_to`` also relays ICE-TCP from the same port number to that address. ``seed`` makes the
    random choices repeatable.
    """

    def __init__(
        self,
        listen: Address = ("127.0.0.1", 0),
        to: Address = ("127.0.0.1", 0),
        *,
        up: ImpairmentSpec = None,
        down: ImpairmentSpec = None,
        profile: str | None = None,
        tcp_to: Address | None = None,
        seed: int | str | None = None,
    ) -> None:
        self.listen = listen
        self.to = to
        self.tcp_to = tcp_to
        self.up = resolve(up if up is not None else profile, "up")
        self.down = resolve(down if down is not None else profile, "down")
        self._seed = random.Random().random() if seed is None else seed
        self._flows: dict[Address, _Flow] = {}
        self._tcp_flows: list[_Flow] = []
        self._ids = itertools.count()
        self._late = _Lateness()
        self._pending: list[tuple[float, int, Callable[[bytes], None], bytes]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # a bottleneck carries IP packets: each packet's size counts its headers too
        v6 = ":" in to[0]
        self._udp_overhead = (40 if v6 else 20) + 8  # IP and UDP
        self._tcp_overhead = (40 if v6 else 20) + 20 + 2  # IP, TCP, the RFC 4571 length (a frame a segment)
        self._writers: set[asyncio.StreamWriter] = set()
        self._listener: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._origin = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- life ---------------------------------------------------------------------------------

    async def start(self) -> Relay:
        if not self.to[1] or (self.tcp_to is not None and not self.tcp_to[1]):
            raise ValueError(f"the relay needs the target's port, not {self.to!r} (tcp_to {self.tcp_to!r})")
        loop = self._loop = asyncio.get_running_loop()
        self._origin = loop.time()
        host, port = self.listen
        if self.tcp_to is not None:
            self._server = await asyncio.start_server(self._tcp_client, host, port)
            port = self._server.sockets[0].getsockname()[1]
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(self), local_addr=(host, port))
        except BaseException:
            if self._server is not None:  # the UDP port was taken: do not leave the TCP one listening
                self._server.close()
            raise
        self._listener = transport
        return self

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._pending.clear()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for flow in self._flows.values():
            flow.closed = True
            if flow.upstream is not None:
                flow.upstream.close()
        if self._listener is not None:
            self._listener.close()

    async def __aenter__(self) -> Relay:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> Address:
        """Where clients send (UDP; TCP listens on the same port when ``tcp_to`` is given)."""
        assert self._listener is not None, "the relay is not started"
        host, port = self._listener.get_extra_info("sockname")[:2]
        return (host, port)

    # -- control ------------------------------------------------------------------------------

    def set(self, up: ImpairmentSpec = None, down: ImpairmentSpec = None, *, profile: str | None = None) -> None:
        """Change what the directions do (``None`` leaves one as it is); queues carry over."""
        if profile is not None:
            up, down = up or profile, down or profile
        if up is not None:
            self.up = resolve(up, "up")
        if down is not None:
            self.down = resolve(down, "down")
        for flow in self._all_flows():
            flow.up.set(self.up)
            flow.down.set(self.down)

    def play(
        self, timeline: Timeline, on_step: Callable[[float, Impairment, Impairment], None] | None = None
    ) -> asyncio.Task[None]:
        """Run a timeline from now (its steps' ``at`` count from this call); ``restore`` goes back
        to the impairments of this moment. Cancel the task to stop it (``close`` does)."""
        loop = asyncio.get_running_loop()
        base = (self.up, self.down)
        start = loop.time()

        async def run() -> None:
            for step in timeline.steps:
                await asyncio.sleep(max(0.0, start + step.at - loop.time()))
                up, down = step.apply(self.up, self.down, base)
                self.set(up=up, down=down)
                if on_step is not None:
                    on_step(step.at, up, down)

        task = loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def stats(self) -> dict[str, Any]:
        """Counters of both directions over every flow, and the send precision of the loop."""
        flows = self._all_flows()
        late = self._late
        return {
            "up": _merged([f.up.stats for f in flows]),
            "down": _merged([f.down.stats for f in flows]),
            "flows": len(flows),
            "late_ms_mean": round(late.total / late.count * 1000, 3) if late.count else 0.0,
            "late_ms_max": round(late.worst * 1000, 3),
        }

    # -- the data path ------------------------------------------------------------------------

    def _all_flows(self) -> list[_Flow]:
        return [*self._flows.values(), *self._tcp_flows]

    def _new_links(self, ordered: bool) -> tuple[Link, Link]:
        n = next(self._ids)
        up = Link(self.up, random.Random(f"{self._seed}:{n}:up"), origin=self._origin, ordered=ordered)
        down = Link(self.down, random.Random(f"{self._seed}:{n}:down"), origin=self._origin, ordered=ordered)
        return up, down

    def _schedule(self, link: Link, data: bytes, send: Callable[[bytes], None], overhead: int) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for at in link.submit(len(data) + overhead, now).times:
            if at <= now and not self._pending:
                self._late.note(0.0)
                send(data)
            else:
                # one heap and one timer: equal release times leave in the order they came
                heapq.heappush(self._pending, (at, next(self._order), send, data))
                if self._timer is None or at < self._timer_at:  # uvloop's handles have no when()
                    if self._timer is not None:
                        self._timer.cancel()
                    self._timer, self._timer_at = loop.call_at(at, self._release_due), at

    def _release_due(self) -> None:
        loop = self._loop
        assert loop is not None
        self._timer = None
        now = loop.time()
        pending = self._pending
        while pending and pending[0][0] <= now:
            at, _, send, data = heapq.heappop(pending)
            self._late.note(now - at)
            send(data)
        if pending:
            self._timer_at = pending[0][0]
            self._timer = loop.call_at(self._timer_at, self._release_due)

    def _from_client(self, data: bytes, client: Address) -> None:
        flow = self._flows.get(client)
        if flow is None:
            up, down = self._new_links(ordered=False)
            flow = self._flows[client] = _Flow(up, down, client)
            task = asyncio.get_running_loop().create_task(self._open_upstream(flow))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._schedule(flow.up, data, functools.partial(self._to_target, flow), self._udp_overhead)

    async def _open_upstream(self, flow: _Flow) -> None:
        assert self._loop is not None
        transport, _ = await self._loop.create_datagram_endpoint(lambda: _Upstream(self, flow), remote_addr=self.to)
        if flow.closed:
            transport.close()
            return
        flow.upstream = transport
        for data in flow.waiting:
            transport.sendto(data)
        flow.waiting.clear()

    def _to_target(self, flow: _Flow, data: bytes) -> None:
        if flow.upstream is None:
            flow.waiting.append(data)
        elif not flow.closed:
            flow.upstream.sendto(data)

    def _from_target(self, flow: _Flow, data: bytes) -> None:
        self._schedule(flow.down, data, functools.partial(self._to_client, flow.client), self._udp_overhead)

    def _to_client(self, client: Address, data: bytes) -> None:
        if self._listener is not None and not self._listener.is_closing():
            self._listener.sendto(data, client)

    # -- ICE-TCP ------------------------------------------------------------------------------

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.tcp_to is not None
        peer = writer.get_extra_info("peername")
        up, down = self._new_links(ordered=True)
        flow = _Flow(up, down, (peer[0], peer[1]))
        self._tcp_flows.append(flow)
        self._writers.add(writer)
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.tcp_to)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(target_writer)
        pumps = [
            asyncio.ensure_future(self._pump(reader, target_writer, flow.up)),
            asyncio.ensure_future(self._pump(target_reader, writer, flow.down)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for w in (writer, target_writer):
                w.close()
                self._writers.discard(w)
            flow.closed = True

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
        deframer = Deframer()

        def write(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(frame(data))

        while chunk := await reader.read(65536):
            for packet in deframer.feed(chunk):
                self._schedule(link, packet, write, self._tcp_overhead)
        # the other side closed: let what is in flight go out, then stop
        assert self._loop is not None
        await asyncio.sleep(max(0.0, link.last_release - self._loop.time()) + 0.01)


def _merged(all_stats: list[LinkStats]) -> dict[str, Any]:
    total = LinkStats()
    for s in all_stats:
        total.submitted += s.submitted
        total.forwarded += s.forwarded
        total.duplicated += s.duplicated
        total.bytes_forwarded += s.bytes_forwarded
        total.queue_delay_total += s.queue_delay_total
        total.queue_delay_max = max(total.queue_delay_max, s.queue_delay_max)
        for reason, n in s.dropped.items():
            total.dropped[reason] += n
    return total.to_dict()
