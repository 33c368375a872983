"""The kernel floor: a tiny C UDP forwarder, compiled with gcc at run time, in its own process.

It does what any SFU must at least do per packet and nothing more: one ``recvfrom`` and one
``sendto`` per subscriber, no SRTP, no ICE, no header rewrite. Whatever a real server costs
above this is the price of its own code. The routing table (source port -> destination ports,
all on 127.0.0.1) arrives on stdin once every simulated peer has its socket.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from typing import Any

from hubbub.bench.sfu.loadgen import LoadGen, SimParticipant

__all__ = ["FloorTarget", "build_forwarder"]

FORWARDER_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static int *routes[65536];
static int counts[65536];

int main(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = {0};
    me.sin_family = AF_INET;
    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&me, sizeof me) < 0) { perror("bind"); return 1; }
    int size = 8 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    socklen_t len = sizeof me;
    getsockname(s, (struct sockaddr *)&me, &len);
    printf("port %d\n", ntohs(me.sin_port));
    fflush(stdout);
    /* stdin: "SRC N DST1 ... DSTN" lines, then "end" */
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        if (strncmp(line, "end", 3) == 0) break;
        char *p = line, *q;
        long src = strtol(p, &q, 10); p = q;
        long n = strtol(p, &q, 10); p = q;
        if (src <= 0 || src > 65535 || n <= 0) continue;
        routes[src] = realloc(routes[src], sizeof(int) * (counts[src] + n));
        for (long i = 0; i < n; i++) { routes[src][counts[src]++] = (int)strtol(p, &q, 10); p = q; }
    }
    printf("ready\n");
    fflush(stdout);
    char buf[2048];
    struct sockaddr_in from, to = {0};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (;;) {
        socklen_t flen = sizeof from;
        ssize_t got = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (got <= 0) continue;
        int src = ntohs(from.sin_port);
        int *dst = routes[src];
        for (int i = 0; i < counts[src]; i++) {
            to.sin_port = htons((unsigned short)dst[i]);
            sendto(s, buf, (size_t)got, 0, (struct sockaddr *)&to, sizeof to);
        }
    }
}
"""


def build_forwarder(directory: str) -> str:
    """Compile the forwarder into ``directory``; returns the binary's path. Raises ``RuntimeError``."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("the floor needs a C compiler (gcc) on PATH")
    source = os.path.join(directory, "forwarder.c")
    binary = os.path.join(directory, "forwarder")
    with open(source, "w", encoding="utf-8") as f:
        f.write(FORWARDER_C)
    done = subprocess.run([gcc, "-O2", "-o", binary, source], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"gcc failed to build the floor forwarder: {done.stderr.strip()}")
    return binary


class FloorTarget:
    name = "floor"
    secure = False

    def __init__(self) -> None:
        self._dir = ""
        self._proc: asyncio.subprocess.Process | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="hubbub-floor-")
        binary = await asyncio.to_thread(build_forwarder, self._dir)
        self._proc = await asyncio.create_subprocess_exec(
            binary, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self._proc.stdout is not None
        line = (await asyncio.wait_for(self._proc.stdout.readline(), 10)).decode()
        if not line.startswith("port "):
            await self.stop()
            raise RuntimeError(f"the floor forwarder did not start: {line!r}")
        self.port = int(line.split()[1])

    async def join(self, gen: LoadGen, participant: SimParticipant) -> None:
        if participant.streams:
            peer = await gen.new_peer()
            peer.remote = ("127.0.0.1", self.port)
            participant.publisher = peer
            for stream in participant.streams:
                stream.peer = peer
        if participant.subscribes:
            participant.subscriber_peers.append(await gen.new_peer())

    async def all_joined(self, gen: LoadGen, participants: Sequence[SimParticipant]) -> None:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        lines = []
        for pub in participants:
            if pub.publisher is None:
                continue
            dests = [str(peer.port) for p in participants if p is not pub for peer in p.subscriber_peers]
            if dests:
                lines.append(f"{pub.publisher.port} {len(dests)} {' '.join(dests)}\n")
        proc.stdin.write(("".join(lines) + "end\n").encode())
        await proc.stdin.drain()
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        if line.strip() != "ready":
            raise RuntimeError(f"the floor forwarder did not take its routes: {line!r}")

    def details(self) -> dict[str, Any]:
        return {}

    async def stop(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
        self._proc = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = ""
