"""Janus (the Debian ``janus`` 1.1 package) as the peer SFU the benchmarks measure against: its videoroom.

Setup, all in a temporary directory of its own:

- a copy of ``/etc/janus`` whose ``janus.jcfg`` points the plugin and transport folders at
  folders holding only ``libjanus_videoroom.so`` and ``libjanus_http.so``, with no event handlers
  or loggers, ICE restricted to ``lo`` (``ice_enforce_list``) and ICE-lite on (the client
  nominates, as a browser does against an ICE-lite server); the HTTP transport listens on a free
  port of 127.0.0.1 only;
- Janus skips interfaces flagged ``IFF_LOOPBACK`` when it gathers candidates, so on loopback
  alone it would offer none: a tiny ``getifaddrs`` wrapper, built here with gcc and loaded with
  ``LD_PRELOAD`` into Janus alone, clears that flag.

:class:`JanusServer` runs the process and speaks the videoroom plugin's HTTP API: one Janus
session, one handle per peer connection (:meth:`JanusServer.attach`), one long poll for every
event, requests answered by event (:meth:`JanusServer.message`). A publisher ``join``s as
``publisher`` and ``configure``s with its offer (the answer comes in the event's ``jsep``); a
subscriber ``join``s as ``subscriber`` with the feeds it wants in ``streams`` (one multistream
connection), gets Janus's offer and answers it with ``start``. ``hubbub bench sfu``
(:mod:`hubbub.bench.sfu.janus_target`) and ``hubbub bench quality`` drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from typing import Any

import httpx

__all__ = ["ROOM", "JanusError", "JanusServer", "find_janus"]

ROOM = 4242
_SYSTEM_CONFIG = "/etc/janus"
_LIB_DIRS = (
    "/usr/lib/x86_64-linux-gnu/janus",
    "/usr/lib/aarch64-linux-gnu/janus",
    "/usr/lib/janus",
    "/opt/janus/lib/janus",
)

LOOPBACK_WRAPPER_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>

/* Report every interface without IFF_LOOPBACK, so that Janus gathers candidates on lo. */
int getifaddrs(struct ifaddrs **ifap) {
    static int (*real)(struct ifaddrs **) = 0;
    if (!real) real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    int result = real(ifap);
    if (result == 0)
        for (struct ifaddrs *i = *ifap; i; i = i->ifa_next) i->ifa_flags &= ~IFF_LOOPBACK;
    return result;
}
"""


class JanusError(RuntimeError):
    """Janus could not be set up or refused a request; the message says which and why."""


def find_janus() -> tuple[str, str]:
    """The ``janus`` binary and its library folder (plugins/, transports/). Raises ``JanusError``."""
    binary = shutil.which("janus")
    if binary is None:
        raise JanusError("janus is not installed (Debian: apt-get install janus)")
    for lib in _LIB_DIRS:
        if os.path.exists(os.path.join(lib, "plugins", "libjanus_videoroom.so")):
            if not os.path.exists(os.path.join(lib, "transports", "libjanus_http.so")):
                raise JanusError(f"{lib}/transports has no libjanus_http.so")
            return binary, lib
    raise JanusError(f"no libjanus_videoroom.so under any of {', '.join(_LIB_DIRS)}")


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _write_config(conf: str, lib_links: str, port: int) -> None:
    if os.path.isdir(_SYSTEM_CONFIG):
        shutil.copytree(_SYSTEM_CONFIG, conf)
    else:
        os.makedirs(conf)
    for kind in ("plugins", "transports", "events", "loggers"):
        os.makedirs(os.path.join(lib_links, kind), exist_ok=True)
    with open(os.path.join(conf, "janus.jcfg"), "w", encoding="utf-8") as f:
        f.write(
            f"""general: {{
    configs_folder = "{conf}"
    plugins_folder = "{lib_links}/plugins"
    transports_folder = "{lib_links}/transports"
    events_folder = "{lib_links}/events"
    loggers_folder = "{lib_links}/loggers"
    debug_level = 2
    session_timeout = 120
    protected_folders = []
}}
certificates: {{
}}
media: {{
}}
nat: {{
    nice_debug = false
    ice_lite = true
    ice_enforce_list = "lo"
    ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
events: {{
    broadcast = false
}}
"""
        )
    with open(os.path.join(conf, "janus.transport.http.jcfg"), "w", encoding="utf-8") as f:
        f.write(
            f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
cors: {{
}}
"""
        )
    with open(os.path.join(conf, "janus.plugin.videoroom.jcfg"), "w", encoding="utf-8") as f:
        f.write("general: {\n}\n")


def _build_wrapper(directory: str) -> str:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise JanusError("building the getifaddrs wrapper for Janus needs gcc")
    source = os.path.join(directory, "loopback.c")
    library = os.path.join(directory, "libloopback.so")
    with open(source, "w", encoding="utf-8") as f:
        f.write(LOOPBACK_WRAPPER_C)
    done = subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise JanusError(f"gcc failed to build the getifaddrs wrapper: {done.stderr.strip()}")
    return library


class JanusServer:
    """A Janus process with one videoroom (:data:`ROOM`), and its HTTP API."""

    def __init__(self) -> None:
        self._dir = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._http: httpx.AsyncClient | None = None
        self._session = 0
        self._poller: asyncio.Task[None] | None = None
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._errors: list[str] = []
        self.url = ""

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    # --- process -------------------------------------------------------------------------------

    async def start(self) -> None:
        binary, lib = find_janus()
        self._dir = tempfile.mkdtemp(prefix="hubbub-janus-")
        try:
            await self._start(binary, lib)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, binary: str, lib: str) -> None:
        conf, links = os.path.join(self._dir, "etc"), os.path.join(self._dir, "lib")
        port = _free_tcp_port()
        _write_config(conf, links, port)
        os.symlink(os.path.join(lib, "plugins", "libjanus_videoroom.so"), f"{links}/plugins/libjanus_videoroom.so")
        os.symlink(os.path.join(lib, "transports", "libjanus_http.so"), f"{links}/transports/libjanus_http.so")
        wrapper = await asyncio.to_thread(_build_wrapper, self._dir)
        env = dict(os.environ, LD_PRELOAD=wrapper)
        log = open(os.path.join(self._dir, "janus.log"), "wb")  # noqa: SIM115 - the child keeps it
        self._proc = await asyncio.create_subprocess_exec(
            binary, "-F", conf, "-C", os.path.join(conf, "janus.jcfg"), stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()
        self.url = f"http://127.0.0.1:{port}/janus"
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(60), limits=httpx.Limits(max_connections=64))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:
            if self._proc.returncode is not None:
                raise JanusError(f"janus exited with status {self._proc.returncode}: {self._log_tail()}")
            try:
                if (await self._http.get(f"{self.url}/info")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if loop.time() > deadline:
                raise JanusError(f"janus did not answer on {self.url} within 20 s: {self._log_tail()}")
            await asyncio.sleep(0.1)
        created = await self._post(self.url, {"janus": "create"})
        self._session = int(created["data"]["id"])
        self._poller = asyncio.create_task(self._poll(), name="janus-long-poll")
        control = await self.attach()
        reply = await self._post(
            f"{self.url}/{self._session}/{control}",
            {
                "janus": "message",
                "body": {
                    "request": "create",
                    "room": ROOM,
                    "publishers": 64,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                    "bitrate": 0,
                    "fir_freq": 0,
                    "notify_joining": False,
                },
            },
        )
        data = reply.get("plugindata", {}).get("data", {})
        if data.get("videoroom") != "created":
            raise JanusError(f"videoroom refused to create the room: {data}")

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self._dir, "janus.log"), encoding="utf-8", errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-5:])
        except OSError:
            return "(no log)"

    # --- the HTTP API ----------------------------------------------------------------------------

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        body = dict(body, transaction=secrets.token_hex(8))
        response = await self._http.post(url, json=body)
        response.raise_for_status()
        reply: dict[str, Any] = response.json()
        if reply.get("janus") == "error":
            raise JanusError(f"janus refused {body.get('janus')}: {reply.get('error')}")
        return reply

    async def attach(self) -> int:
        reply = await self._post(f"{self.url}/{self._session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})
        return int(reply["data"]["id"])

    async def detach(self, handle: int) -> None:
        """Hang up and drop a handle (its peer connection and, for a publisher, its feed)."""
        await self._post(f"{self.url}/{self._session}/{handle}", {"janus": "detach"})

    async def message(self, handle: int, body: dict[str, Any], jsep: dict[str, str] | None = None) -> dict[str, Any]:
        """A videoroom request answered asynchronously: returns the event carrying its transaction."""
        assert self._http is not None
        transaction = f"t{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[transaction] = future
        payload: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            payload["jsep"] = jsep
        try:
            response = await self._http.post(f"{self.url}/{self._session}/{handle}", json=payload)
            response.raise_for_status()
            ack = response.json()
            if ack.get("janus") == "error":
                raise JanusError(f"janus refused {body.get('request')}: {ack.get('error')}")
            if ack.get("janus") == "success":  # answered synchronously
                return dict(ack)
            event = await asyncio.wait_for(future, 30)
        finally:
            self._waiters.pop(transaction, None)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(f"videoroom refused {body.get('request')}: {data.get('error_code')} {data['error']}")
        return event

    async def _poll(self) -> None:
        assert self._http is not None
        while True:
            try:
                response = await self._http.get(f"{self.url}/{self._session}", params={"maxev": 50})
                events = response.json()
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.1)
                continue
            for event in events if isinstance(events, list) else [events]:
                future = self._waiters.get(str(event.get("transaction", "")))
                if future is not None and not future.done() and event.get("janus") == "event":
                    future.set_result(event)

    async def trickle_done(self, handle: int) -> None:
        await self._post(f"{self.url}/{self._session}/{handle}", {"janus": "trickle", "candidate": {"completed": True}})

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._http is not None:
            if self._session and self._proc is not None and self._proc.returncode is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._post(f"{self.url}/{self._session}", {"janus": "destroy"}), 5)
            await self._http.aclose()
            self._http = None
        self._session = 0
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._proc = None
        if self._dir and not os.environ.get("HUBBUB_BENCH_KEEP"):
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = ""
