"""Hubbub as the server under test: ``hubbub serve`` in its own process, driven over signaling.

The server starts on free ports (HTTP ``--port 0``, ``HUBBUB_RTC_UDP_PORT=0``) with a fresh data
directory; the bench signs up a console account, creates a project over the REST API, mints
tokens with the SDK's token builder and joins every participant over ``/rtc/v1``:

- a publisher announces each track with ``publish{cid}``, then offers one sendonly m-line per
  track (``a=msid <participant> <cid>``) and connects to the candidate in the answer;
- a subscriber joins with ``auto_subscribe`` and answers every subscriber ``offer`` the server
  sends (one per change of its subscriptions); the first answer starts ICE and DTLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import httpx

from hubbub.bench.sfu.loadgen import LoadGen, SimParticipant
from hubbub.bench.sfu.offer import answer_offer, publisher_offer, remote_transport
from hubbub.bench.sfu.peer import SimPeer
from hubbub.schema import signaling as sig
from hubbub.sdk.signaling import SignalingClient, signaling_url
from hubbub.sdk.token import build_token

__all__ = ["HubbubTarget"]

_REST = re.compile(r"REST API\s+(\S+)/api/v1")
_MEDIA = re.compile(r"Media\s+UDP\s+(\S+):(\d+)")
CHANNEL = "bench"


class _Member:
    """One participant's signaling session and subscriber connection."""

    def __init__(self, client: SignalingClient) -> None:
        self.client = client
        self.offers: asyncio.Queue[str] = asyncio.Queue()
        self.subscriber: SimPeer | None = None
        self.task: asyncio.Task[None] | None = None
        self.error = ""


class HubbubTarget:
    name = "hubbub"
    secure = True

    def __init__(self, *, python: str = sys.executable, extra_env: dict[str, str] | None = None) -> None:
        self.python = python
        self.extra_env = extra_env or {}
        self._proc: asyncio.subprocess.Process | None = None
        self._dir = ""
        self.base_url = ""
        self.media: tuple[str, int] | None = None
        self.app_id = ""
        self.certificate = ""
        self._members: list[_Member] = []

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="hubbub-bench-")
        env = dict(
            os.environ,
            HUBBUB_RTC_UDP_PORT="0",
            HUBBUB_RTC_TCP_PORT="0",
            HUBBUB_LOG_FORMAT="json",
            HUBBUB_LOG_LEVEL="warning",
            **self.extra_env,
        )
        log = open(os.path.join(self._dir, "server.log"), "wb")  # noqa: SIM115 - the child keeps it
        self._proc = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "hubbub",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            os.path.join(self._dir, "data"),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=env,
        )
        log.close()
        assert self._proc.stdout is not None
        try:
            async with asyncio.timeout(60):
                while self.media is None:
                    line = (await self._proc.stdout.readline()).decode(errors="replace")
                    if not line:
                        raise RuntimeError(f"hubbub serve exited before it was ready; see {self._dir}/server.log")
                    if m := _REST.search(line):
                        self.base_url = m.group(1)
                    elif m := _MEDIA.search(line):
                        self.media = (m.group(1), int(m.group(2)))
        except BaseException:
            await self.stop()
            raise
        await self._create_project()

    async def _create_project(self) -> None:
        email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
        async with httpx.AsyncClient(base_url=self.base_url + "/api/v1", timeout=30) as http:
            (await http.post("/auth/signup", json={"email": email, "password": password})).raise_for_status()
            login = await http.post("/auth/login", json={"email": email, "password": password})
            login.raise_for_status()
            csrf = login.json()["csrf_token"]
            created = await http.post("/projects", json={"name": "bench"}, headers={"x-csrf-token": csrf})
            created.raise_for_status()
            body = created.json()
        self.app_id, self.certificate = body["app_id"], body["app_certificate"]

    # --- participants ----------------------------------------------------------------------------

    async def join(self, gen: LoadGen, participant: SimParticipant) -> None:
        member: _Member | None = None

        def on_message(message: sig.ServerMessage) -> None:
            if isinstance(message, sig.Offer) and member is not None:
                member.offers.put_nowait(message.sdp)

        client = SignalingClient(signaling_url(self.base_url), on_message=on_message, request_timeout=30)
        member = _Member(client)
        self._members.append(member)
        participant.handle = member
        token = build_token(self.app_id, self.certificate, user_id=participant.name, channel=CHANNEL)
        await client.join(sig.Join(token=token, auto_subscribe=participant.subscribes, name=participant.name))
        if participant.subscribes:
            member.task = asyncio.create_task(self._answer_offers(gen, participant, member))
        if participant.streams:
            await self._publish(gen, participant, client)

    async def _publish(self, gen: LoadGen, participant: SimParticipant, client: SignalingClient) -> None:
        for stream in participant.streams:
            await client.request(
                sig.Publish(cid=stream.cid, kind=sig.TrackKind(stream.kind)),
                reply=lambda m, cid=stream.cid: isinstance(m, sig.TrackPublished) and m.cid == cid,  # type: ignore[misc]
            )
        peer = await gen.new_peer()
        offer = publisher_offer(peer, participant.streams, gen.fingerprint, participant.name)
        reply = await client.request(sig.Offer(sdp=offer), reply=lambda m: isinstance(m, sig.Answer))
        assert isinstance(reply, sig.Answer)
        remote = remote_transport(reply.sdp)
        peer.set_remote(remote.address, remote.ufrag, remote.pwd, remote.fingerprints, remote.setup)
        await peer.connect()
        participant.publisher = peer
        peer.video_streams = [s for s in participant.streams if s.kind == "video"]
        for stream in participant.streams:
            stream.peer = peer

    async def _answer_offers(self, gen: LoadGen, participant: SimParticipant, member: _Member) -> None:
        while True:
            text = await member.offers.get()
            try:
                peer = member.subscriber
                if peer is None:
                    peer = member.subscriber = await gen.new_peer()
                    participant.subscriber_peers.append(peer)
                await member.client.send(sig.Answer(sdp=answer_offer(text, peer, gen.fingerprint)))
                if peer.remote is None:
                    remote = remote_transport(text)
                    peer.set_remote(remote.address, remote.ufrag, remote.pwd, remote.fingerprints, remote.setup)
                    await peer.connect()
            except Exception as exc:  # reported in the details; the run goes on
                member.error = f"{type(exc).__name__}: {exc}"

    async def all_joined(self, gen: LoadGen, participants: Sequence[SimParticipant]) -> None:
        pass

    def details(self) -> dict[str, Any]:
        errors = sorted({m.error for m in self._members if m.error})
        return {"subscriber_errors": errors} if errors else {}

    async def stop(self) -> None:
        for member in self._members:
            if member.task is not None:
                member.task.cancel()
        for member in self._members:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(member.client.close(leave=False), 2)
        self._members.clear()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._proc = None
        self.media = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = ""
