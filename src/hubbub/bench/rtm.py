"""``hubbub bench rtm``: channel fan-out over real WebSockets, beside a Redis PUBLISH reference.

A Hubbub server (SQLite, its own process) holds one channel with ``members`` subscribers, real
``/rtm/v1`` WebSocket clients spread over ``procs`` processes; one more client sends ``rate``
messages per second for ``seconds``. Every message carries its send time; each receiver records
send-to-receive latency and which seqs it got. ``lost`` counts (member, message) pairs that never
arrived; ``deliveries_per_s_per_core`` divides deliveries by the CPU seconds the server process
spent (from ``/proc``), so a shared machine does not flatter or punish it.

The reference runs in the same invocation: ``redis-server`` on a free port, the same number of
``SUBSCRIBE`` connections in the same processes, the same rate of ``PUBLISH``; its p99 latency is
``reference.redis_pubsub_latency_p99_ms`` (``null`` when ``redis-server`` is not installed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import msgspec
import websockets

CHANNEL = "bench"


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the server process ------------------------------------------------------------------------


def _server_main(data_dir: str, port: int, pipe: Pipe) -> None:
    _raise_fd_limit()

    async def main() -> None:
        import uvicorn

        from hubbub.config import Settings
        from hubbub.control.context import UserPrincipal
        from hubbub.messaging import MessagingSettings
        from hubbub.server.platform import Platform, bind_http, http_config

        settings = Settings(host="127.0.0.1", port=port, data_dir=Path(data_dir), rtc_udp_port=0, rtc_tcp_port=0)
        rtm_settings = MessagingSettings(attachment_dir=Path(data_dir) / "att", messages_per_s=1000, burst=1000)
        platform = await Platform.start(settings, rtm_settings=rtm_settings)
        user = await platform.services.accounts.sign_up("bench@example.com", "correct horse battery")
        project, certificate = await platform.services.projects.create(UserPrincipal(user.id), "bench")
        server = uvicorn.Server(http_config(platform.app))
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        task = asyncio.create_task(server.serve(sockets=[bind_http("127.0.0.1", port)]))
        while not server.started:
            await asyncio.sleep(0.01)
        pipe.send((project.app_id, certificate))
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # wait for "stop"
        server.should_exit = True
        await task
        await platform.close()

    _run(main())


def _run(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover
        asyncio.run(coro)


# --- receiver processes ------------------------------------------------------------------------


class _Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.seen: list[set[int]] = []


_frame = msgspec.json.Decoder()


async def _rtm_member(url: str, token: str, stats: _Stats, ready: asyncio.Event, stop: asyncio.Event) -> None:
    seen: set[int] = set()
    stats.seen.append(seen)
    async with websockets.connect(url, max_size=1 << 20, ping_interval=None, open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "rtm_login", "id": "l", "token": token}))
        await ws.recv()
        await ws.send(json.dumps({"type": "rtm_subscribe", "id": "s", "channel": CHANNEL, "presence": False}))
        while _frame.decode(await ws.recv()).get("type") != "rtm_subscribed":
            pass
        ready.set()
        closer = asyncio.create_task(_close_on(stop, ws))
        async for raw in ws:
            now = time.time()
            frame = _frame.decode(raw)
            if frame.get("type") == "rtm_message":
                message = frame["message"]
                seen.add(message["seq"])
                stats.latencies.append((now - message["data"]["t"]) * 1000.0)
        closer.cancel()


async def _close_on(stop: asyncio.Event, ws: Any) -> None:
    await stop.wait()
    await ws.close()


async def _redis_member(port: int, stats: _Stats, ready: asyncio.Event, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"SUBSCRIBE {CHANNEL}\r\n".encode())
    await writer.drain()
    seen: set[int] = set()
    stats.seen.append(seen)

    async def bulk() -> bytes:
        n = int((await reader.readline())[1:])
        return (await reader.readexactly(n + 2))[:-2]

    await reader.readline()  # *3 subscribe confirmation
    await bulk()
    await bulk()
    await reader.readline()
    ready.set()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(reader.readline(), 0.5)  # *3
            except TimeoutError:
                continue
            await bulk()
            await bulk()
            payload = await bulk()
            now = time.time()
            n, t = payload.split(b" ")
            seen.add(int(n))
            stats.latencies.append((now - float(t)) * 1000.0)
    finally:
        writer.close()


def _members_main(kind: str, target: str, tokens: list[str], pipe: Pipe) -> None:
    _raise_fd_limit()

    async def main() -> None:
        stats, stop = _Stats(), asyncio.Event()
        readies = [asyncio.Event() for _ in tokens]
        tasks = []
        for i, (token, ready) in enumerate(zip(tokens, readies, strict=True)):
            if kind == "rtm":
                tasks.append(asyncio.create_task(_rtm_member(target, token, stats, ready, stop)))
            else:
                tasks.append(asyncio.create_task(_redis_member(int(target), stats, ready, stop)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # do not storm the listen backlog
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        pipe.send("ready")
        expected = await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # messages sent
        # Wait while deliveries still make progress (a backlog drains); what never arrives is lost.
        last, idle_since, deadline = -1, time.monotonic(), time.monotonic() + 120.0
        while time.monotonic() < deadline and any(len(s) < expected for s in stats.seen):
            total = sum(len(s) for s in stats.seen)
            if total != last:
                last, idle_since = total, time.monotonic()
            elif time.monotonic() - idle_since > 3.0:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        pipe.send((stats.latencies, [sorted(s) for s in stats.seen]))

    _run(main())


# --- the run -----------------------------------------------------------------------------------


def _spawn_members(kind: str, target: str, tokens: list[str], procs: int) -> list[tuple[Any, Pipe]]:
    ctx = mp.get_context("spawn")
    out = []
    for i in range(procs):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_members_main, args=(kind, target, tokens[i::procs], child), daemon=True)
        p.start()
        out.append((p, parent))
    for _, pipe in out:
        if not pipe.poll(180):
            raise RuntimeError("bench members did not connect in time")
        pipe.recv()
    return out


def _collect(members: list[tuple[Any, Pipe]], count: int) -> tuple[list[float], list[list[int]]]:
    latencies: list[float] = []
    seen: list[list[int]] = []
    for _, pipe in members:
        pipe.send(count)
    for p, pipe in members:
        lat, s = pipe.recv()
        latencies += lat
        seen += s
        p.join(10)
    return latencies, seen


async def _send_rtm(url: str, token: str, rate: float, count: int) -> None:
    async with websockets.connect(url, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "rtm_login", "id": "l", "token": token}))
        await ws.recv()
        await ws.send(json.dumps({"type": "rtm_subscribe", "id": "s", "channel": CHANNEL, "presence": False}))
        acks = 0
        done = asyncio.Event()

        async def read_acks() -> None:  # a sender that reads its socket (acks, its own messages)
            nonlocal acks
            async for raw in ws:
                if _frame.decode(raw).get("type") == "rtm_ack":
                    acks += 1
                    if acks == count:
                        done.set()

        reader = asyncio.create_task(read_acks())
        start = time.monotonic()
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            frame: dict[str, Any] = {"type": "rtm_send", "id": f"b{n}", "channel": CHANNEL, "client_msg_id": f"b{n}"}
            frame["data"] = {"t": time.time()}
            await ws.send(json.dumps(frame))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 10)
        reader.cancel()


async def _send_redis(port: int, rate: float, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        payload = f"{n + 1} {time.time():.6f}"
        writer.write(f"PUBLISH {CHANNEL} {json.dumps(payload)}\r\n".encode())
        await writer.drain()
        await reader.readline()
    writer.close()


def _redis_reference(members: int, rate: float, count: int, procs: int) -> float | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--maxclients", str(members + 100)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
                break
            time.sleep(0.05)
        group = _spawn_members("redis", str(port), [""] * members, procs)
        asyncio.run(_send_redis(port, rate, count))
        time.sleep(1.0)
        latencies, _ = _collect(group, count)
        return round(_percentile(latencies, 0.99), 2)
    finally:
        server.terminate()
        server.wait(10)


def run(members: int = 1000, rate: float = 20.0, seconds: float = 10.0, procs: int = 4) -> dict[str, Any]:
    """Measure; returns the JSON record (see the module docstring)."""
    from hubbub.sdk.token import build_token

    _raise_fd_limit()
    count = int(rate * seconds)
    ctx = mp.get_context("spawn")
    data_dir = tempfile.mkdtemp(prefix="hubbub-bench-rtm-")
    port = _free_port()
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_server_main, args=(data_dir, port, child), daemon=True)
    server.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the bench server did not start")
        app_id, certificate = parent.recv()
        url = f"ws://127.0.0.1:{port}/rtm/v1"
        tokens = [build_token(app_id, certificate, user_id=f"m{i}", channel="*") for i in range(members)]
        group = _spawn_members("rtm", url, tokens, procs)
        assert server.pid is not None
        cpu_before, wall_before = _cpu_seconds(server.pid), time.monotonic()
        asyncio.run(_send_rtm(url, build_token(app_id, certificate, user_id="sender"), rate, count))
        time.sleep(0.5)
        cpu = _cpu_seconds(server.pid) - cpu_before
        wall = time.monotonic() - wall_before
        latencies, seen = _collect(group, count)
        parent.send("stop")
        server.join(15)
    finally:
        if server.is_alive():
            server.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    delivered = sum(len(s) for s in seen)
    expected = members * count
    reference = _redis_reference(members, rate, count, procs)
    return {
        "members": members,
        "rate_msgs_per_s": rate,
        "messages": count,
        "delivered": delivered,
        "lost": expected - delivered,
        "latency_p50_ms": round(_percentile(latencies, 0.50), 2),
        "latency_p99_ms": round(_percentile(latencies, 0.99), 2),
        "deliveries_per_s_per_core": round(delivered / cpu, 1) if cpu > 0 else None,
        "server_cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "reference": {"redis_pubsub_latency_p99_ms": reference},
    }


def register(subparsers: Any) -> None:
    """Add ``rtm`` to ``hubbub bench``'s sub-commands."""
    parser = subparsers.add_parser("rtm", help="channel fan-out over real WebSockets, with a Redis reference")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second into the channel")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=max(2, min(8, os.cpu_count() or 2)))
    parser.add_argument("--json", action="store_true", help="print JSON (the default and only format)")
    parser.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    print(json.dumps(run(args.members, args.rate, args.seconds, args.procs)))
    return 0


if __name__ == "__main__":  # python -m hubbub.bench.rtm
    import sys

    sizes = [int(a) for a in sys.argv[1:2]] or [1000]
    print(json.dumps(run(members=sizes[0])))
