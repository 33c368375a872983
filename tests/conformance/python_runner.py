"""The Python runner of the SDK conformance scripts (the format is in ``README.md`` beside this).

The signaling socket is a :class:`FakeSocket` opened by :class:`FakeServer` (the SDK's
``open_socket`` seam); the peer connections are :class:`FakePeerConnection`\\ s, which write a
placeholder SDP for each transceiver and turn each ``a=msid`` of a remote offer into one ``track``
event, as aiortc does. No socket, ICE, DTLS or media is involved.

Python's names map to the canonical ones with :data:`EVENT_NAMES` (class names in snake_case,
``ErrorReceived`` as ``error``); the Python SDK has no event the JavaScript one lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import websockets
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from hubbub.schema import signaling as proto
from hubbub.sdk import (
    ActiveSpeakers,
    Backoff,
    Disconnected,
    ErrorReceived,
    HubbubError,
    LocalParticipant,
    LocalPublication,
    LocalTrackMuted,
    NetworkQuality,
    NetworkQualityInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantNetworkQuality,
    ParticipantUpdated,
    Reconnected,
    Reconnecting,
    RemoteParticipant,
    RemotePublication,
    Room,
    RoomEvent,
    TokenExpiring,
    TrackMuted,
    TrackPublished,
    TrackStreamStateChanged,
    TrackSubscribed,
    TrackUnpublished,
    TrackUnsubscribed,
)
from hubbub.sdk.signaling import SignalingSocket

SCRIPTS = Path(__file__).resolve().parent / "scripts"
WAIT = 2.0  # seconds an expect_* step waits for what it expects

Json = Any

EVENT_NAMES: dict[type[RoomEvent], str] = {
    ParticipantJoined: "participant_joined",
    ParticipantUpdated: "participant_updated",
    ParticipantLeft: "participant_left",
    TrackPublished: "track_published",
    TrackUnpublished: "track_unpublished",
    TrackMuted: "track_muted",
    LocalTrackMuted: "local_track_muted",
    TrackSubscribed: "track_subscribed",
    TrackUnsubscribed: "track_unsubscribed",
    TrackStreamStateChanged: "track_stream_state_changed",
    ActiveSpeakers: "active_speakers",
    NetworkQuality: "network_quality",
    ParticipantNetworkQuality: "participant_network_quality",
    TokenExpiring: "token_expiring",
    ErrorReceived: "error",
    Reconnecting: "reconnecting",
    Reconnected: "reconnected",
    Disconnected: "disconnected",
}


class ScriptFailed(AssertionError):
    pass


def load(path: Path) -> Json:
    return json.loads(path.read_text(encoding="utf-8"))


def all_scripts() -> list[Path]:
    return sorted(SCRIPTS.glob("*.json"))


def mutants(script: Json) -> list[tuple[str, Json]]:
    """Copies of the script with one expectation changed, each with what changed: every runner must fail them."""
    found: list[tuple[str, Json]] = []
    for i, step in enumerate(script["steps"]):
        if step.get("expect_events"):
            renamed = copy.deepcopy(script)
            renamed["steps"][i]["expect_events"][-1]["event"] = "no_such_event"
            found.append((f"step {i + 1}: another event name", renamed))
            dropped = copy.deepcopy(script)
            dropped["steps"][i]["expect_events"].pop()
            found.append((f"step {i + 1}: one event fewer", dropped))
        if "expect_sent" in step and len(found) < 6:
            wrong = copy.deepcopy(script)
            wrong["steps"][i]["expect_sent"] = {**step["expect_sent"], "type": "no_such_frame"}
            found.append((f"step {i + 1}: another sent frame", wrong))
    return found


# --- the fake signaling socket -----------------------------------------------------------------


class FakeSocket:
    """One signaling connection: the script pushes frames in, the SDK's frames go to the server."""

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.closed = False

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._frames()

    async def _frames(self) -> AsyncIterator[str | bytes]:
        while True:
            frame = await self.incoming.get()
            if frame is None:
                return
            yield frame

    async def send(self, message: str) -> None:
        if self.closed:
            raise websockets.ConnectionClosed(None, None)
        self._server.sent.put_nowait(json.loads(message))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self.incoming.put_nowait(None)


class FakeServer:
    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []
        self.sent: asyncio.Queue[Json] = asyncio.Queue()

    async def open(self, url: str) -> SignalingSocket:
        socket = FakeSocket(self)
        self.sockets.append(socket)
        return socket

    @property
    def current(self) -> FakeSocket:
        if not self.sockets:
            raise ScriptFailed("the SDK opened no signaling socket")
        return self.sockets[-1]


# --- fake peer connections ----------------------------------------------------------------------


class StubTrack(MediaStreamTrack):
    """A local or remote track whose media is never read."""

    def __init__(self, kind: str, track_id: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self._stub_id = track_id

    @property
    def id(self) -> str:
        return self._stub_id or super().id

    async def recv(self) -> Any:
        raise NotImplementedError("a conformance script sends and receives no media")


@dataclass(eq=False)
class _Sender:
    track: MediaStreamTrack | None

    def replaceTrack(self, track: MediaStreamTrack | None) -> None:
        self.track = track


@dataclass(eq=False)
class _Receiver:
    track: MediaStreamTrack | None = None


@dataclass(eq=False)
class _Transceiver:
    mid: str
    kind: str
    direction: str
    sender: _Sender
    receiver: _Receiver = field(default_factory=_Receiver)


_M_LINE = re.compile(r"^m=(audio|video) ")


class FakePeerConnection:
    """The part of aiortc's RTCPeerConnection the SDK uses, without ICE, DTLS or media."""

    def __init__(self, configuration: RTCConfiguration) -> None:
        self.configuration = configuration
        self.connectionState = "new"
        self.localDescription: RTCSessionDescription | None = None
        self.remoteDescription: RTCSessionDescription | None = None
        self._transceivers: list[_Transceiver] = []
        self._listeners: dict[str, list[Callable[..., Any]]] = {}

    def add_listener(self, event: str, listener: Callable[..., Any]) -> None:
        self._listeners.setdefault(event, []).append(listener)

    def getTransceivers(self) -> list[_Transceiver]:
        return list(self._transceivers)

    def addTransceiver(self, track: MediaStreamTrack, direction: str) -> _Transceiver:
        transceiver = _Transceiver(str(len(self._transceivers)), track.kind, direction, _Sender(track))
        self._transceivers.append(transceiver)
        return transceiver

    async def createOffer(self) -> RTCSessionDescription:
        lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"]
        for t in self._transceivers:
            lines += [f"m={t.kind} 9 UDP/TLS/RTP/SAVPF 96", f"a=mid:{t.mid}", f"a={t.direction}"]
            if t.sender.track is not None:
                lines.append(f"a=msid:stream {t.sender.track.id}")
        return RTCSessionDescription(sdp="\r\n".join(lines) + "\r\n", type="offer")

    async def createAnswer(self) -> RTCSessionDescription:
        return RTCSessionDescription(sdp="v=0\r\ns=fake answer\r\n", type="answer")

    async def setLocalDescription(self, description: RTCSessionDescription) -> None:
        self.localDescription = description

    async def setRemoteDescription(self, description: RTCSessionDescription) -> None:
        self.remoteDescription = description
        if description.type != "offer":
            return
        kind, mid, msid = "", "", ""
        sections: list[tuple[str, str, str]] = []
        for line in [*description.sdp.splitlines(), "m=end"]:
            if line.startswith("m="):
                if kind and mid and msid:
                    sections.append((kind, mid, msid))
                found = _M_LINE.match(line)
                kind, mid, msid = (found.group(1) if found else ""), "", ""
            elif line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=msid:"):
                parts = line[7:].split()
                msid = parts[1] if len(parts) > 1 else ""
        known = {t.mid for t in self._transceivers}
        for kind, mid, track_id in sections:
            if mid in known:
                continue
            track = StubTrack(kind, track_id)
            self._transceivers.append(_Transceiver(mid, kind, "recvonly", _Sender(None), _Receiver(track)))
            for listener in self._listeners.get("track", []):
                listener(track)

    async def close(self) -> None:
        self.connectionState = "closed"


def fake_peer_connection(configuration: RTCConfiguration) -> RTCPeerConnection:
    return cast(RTCPeerConnection, FakePeerConnection(configuration))


# --- canonical records ----------------------------------------------------------------------


def participant_record(p: RemoteParticipant) -> Json:
    return {"sid": p.sid, "identity": p.identity, "role": p.role, "name": p.name, "metadata": p.metadata}


def remote_publication_record(t: RemotePublication) -> Json:
    return {
        "sid": t.sid,
        "participant_sid": t.participant_sid,
        "kind": t.kind,
        "source": t.source,
        "name": t.name,
        "muted": t.muted,
        "subscribed": t.subscribed,
    }


def local_publication_record(pub: LocalPublication) -> Json:
    return {
        "track_sid": pub.track_sid,
        "cid": pub.cid,
        "kind": pub.kind,
        "source": pub.source,
        "name": pub.name,
        "muted": pub.muted,
    }


def local_participant_record(me: LocalParticipant) -> Json:
    return {
        "sid": me.sid,
        "identity": me.identity,
        "role": me.role,
        "name": me.name,
        "metadata": me.metadata,
        "can_publish": me.can_publish,
        "can_subscribe": me.can_subscribe,
    }


def quality_record(q: NetworkQualityInfo | None) -> Json:
    if q is None:
        return None
    return {
        "score": q.score,
        "quality": q.quality,
        "uplink": q.uplink,
        "downlink": q.downlink,
        "rtt_ms": q.rtt_ms,
        "uplink_loss_pct": q.uplink_loss_pct,
        "downlink_loss_pct": q.downlink_loss_pct,
        "uplink_jitter_ms": q.uplink_jitter_ms,
        "downlink_jitter_ms": q.downlink_jitter_ms,
    }


def error_record(error: BaseException) -> Json:
    code = error.code if isinstance(error, HubbubError) else type(error).__name__
    message = error.message if isinstance(error, HubbubError) else str(error)
    return {"code": code, "message": message}


def event_record(event: RoomEvent) -> Json:
    """The canonical ``{"event", "data"}`` of a Python event (README: canonical events)."""
    data: Json
    match event:
        case ParticipantJoined() | ParticipantUpdated():
            data = {"participant": participant_record(event.participant)}
        case ParticipantLeft():
            data = {"participant": participant_record(event.participant), "reason": event.reason}
        case TrackPublished() | TrackUnpublished() | TrackSubscribed() | TrackUnsubscribed():
            data = {
                "publication": remote_publication_record(event.publication),
                "participant": participant_record(event.participant),
            }
        case TrackMuted():
            data = {
                "publication": remote_publication_record(event.publication),
                "participant": participant_record(event.participant),
                "muted": event.muted,
            }
        case TrackStreamStateChanged():
            data = {
                "publication": remote_publication_record(event.publication),
                "participant": participant_record(event.participant),
                "state": event.state,
                "reason": event.reason,
            }
        case LocalTrackMuted():
            data = {
                "publication": local_publication_record(event.publication),
                "muted": event.muted,
                "by_server": event.by_server,
            }
        case ActiveSpeakers():
            data = {"speakers": [{"participant_sid": s.participant_sid, "level": s.level} for s in event.speakers]}
        case NetworkQuality():
            data = {"quality": quality_record(event.quality)}
        case ParticipantNetworkQuality():
            data = {"participant": participant_record(event.participant), "quality": quality_record(event.quality)}
        case TokenExpiring():
            data = {"expiring": [{"what": e.what, "at": e.at} for e in event.expiring]}
        case ErrorReceived():
            data = {"code": event.code, "message": event.message}
        case Reconnecting():
            data = {"reason": event.reason}
        case Reconnected():
            data = {"resumed": event.resumed}
        case Disconnected():
            data = {"reason": event.reason, "error": None if event.error is None else error_record(event.error)}
    return {"event": EVENT_NAMES[type(event)], "data": data}


def state_record(room: Room) -> Json:
    return {
        "connected": room.connected,
        "room": {"sid": room.room_sid, "channel": room.channel},
        "local_participant": local_participant_record(room.local_participant)
        | {"network_quality": quality_record(room.local_participant.network_quality)},
        "publications": sorted(
            (local_publication_record(out.publication) for out in room._outgoing.values()),
            key=lambda r: str(r["track_sid"]),
        ),
        "participants": [
            participant_record(p)
            | {
                "tracks": [remote_publication_record(t) for _, t in sorted(p.tracks.items())],
                "network_quality": quality_record(p.network_quality),
            }
            for _, p in sorted(room.participants.items())
        ],
    }


# --- matching -------------------------------------------------------------------------------


def mismatches(expected: Json, actual: Json, path: str = "") -> list[str]:
    """Where ``actual`` fails to match the subset ``expected`` (README: matching)."""
    here = path or "."
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{here}: expected an object, got {actual!r}"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                if value is not None:
                    found.append(f"{path}.{key}: missing")
                continue
            found += mismatches(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{here}: expected {len(expected)} items, got {actual!r}"]
        return [
            m for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for m in mismatches(e, a, f"{path}[{i}]")
        ]
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        ok = type(actual) is type(expected) and actual == expected
    elif isinstance(expected, int | float):
        ok = isinstance(actual, int | float) and not isinstance(actual, bool) and float(actual) == float(expected)
    else:
        ok = actual == expected
    return [] if ok else [f"{here}: expected {expected!r}, got {actual!r}"]


def resolve(value: Json, sent: Json | None) -> Json:
    """Replace ``"$sent.FIELD"`` strings with that field of the last frame ``expect_sent`` matched."""
    if isinstance(value, dict):
        return {k: resolve(v, sent) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, sent) for v in value]
    if isinstance(value, str) and value.startswith("$sent."):
        key = value[len("$sent.") :]
        if sent is None or key not in sent:
            raise ScriptFailed(f"{value}: the last matched client frame has no {key!r} ({sent!r})")
        return sent[key]
    return value


# --- the runner -----------------------------------------------------------------------------


class PythonRunner:
    """Runs one script against :class:`hubbub.sdk.Room`."""

    def __init__(self, script: Json) -> None:
        self.script = script
        self.server = FakeServer()
        self.room: Room | None = None
        self.events: list[Json] = []
        self.sent: Json | None = None
        self.call: asyncio.Task[Json] | None = None
        self.calls: list[asyncio.Task[Json]] = []

    async def run(self) -> None:
        try:
            for number, step in enumerate(self.script["steps"], 1):
                try:
                    await self.step(step)
                except ScriptFailed as exc:
                    raise ScriptFailed(
                        f"{self.script['name']}, step {number} {json.dumps(step)[:300]}:\n{exc}"
                    ) from None
            await self.settle()
            if self.events:
                raise ScriptFailed(f"{self.script['name']}: events no step expected: {self.events}")
        finally:
            await self.close()

    async def close(self) -> None:
        if self.room is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.room.disconnect(), 5)
        for task in self.calls:
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def step(self, step: Json) -> None:
        if "call" in step:  # the one step with two keys: "call" and "args"
            if set(step) - {"call", "args"}:
                raise ScriptFailed(f"a call step has only call and args, not {sorted(step)}")
            self.start_call(step["call"], step.get("args", {}))
            return
        if len(step) != 1:
            raise ScriptFailed(f"a step has exactly one key, not {sorted(step)}")
        ((kind, arg),) = step.items()
        if kind == "server":
            socket = self.server.current
            if not socket.closed:  # a closed socket delivers nothing, as a real one
                socket.incoming.put_nowait(json.dumps(resolve(arg, self.sent)))
        elif kind == "server_close":
            await self.server.current.close()
        elif kind == "expect_call":
            await self.expect_call(arg)
        elif kind == "expect_sent":
            await self.expect_sent(arg)
        elif kind == "expect_events":
            await self.expect_events(arg)
        elif kind == "expect_state":
            await self.settle()
            if self.room is None:
                raise ScriptFailed("no room: connect first")
            found = mismatches(arg, state_record(self.room))
            if found:
                raise ScriptFailed("state differs:\n  " + "\n  ".join(found))
        elif kind == "wait":
            await asyncio.sleep(float(arg))
        else:
            raise ScriptFailed(f"unknown step {kind!r}")

    def start_call(self, method: str, args: Json) -> None:
        self.call = asyncio.create_task(self.invoke(method, args), name=f"conformance-{method}")
        self.calls.append(self.call)

    async def invoke(self, method: str, args: Json) -> Json:
        if method == "connect":
            self.room = Room(
                "ws://conformance.invalid/rtc/v1",
                proto.Join(
                    token=args.get("token", ""),
                    name=args.get("name", ""),
                    metadata=args.get("metadata", ""),
                    auto_subscribe=args.get("auto_subscribe", True),
                ),
                loopback=False,
                ice_servers=None,
                request_timeout=1.0,
                backoff=Backoff(initial=0.02, factor=2.0, maximum=0.1, jitter=0.0),
                open_socket=self.server.open,
                peer_connection=fake_peer_connection,
            )
            emit = self.room._emit

            def record(event: RoomEvent) -> None:
                self.events.append(event_record(event))  # as it is now, not as it is when read
                emit(event)

            self.room._emit = record  # type: ignore[method-assign]
            await self.room._open(1.0)
            return None
        room = self.room
        if room is None:
            raise ScriptFailed(f"{method} before connect")
        if method == "leave":
            await room.disconnect()
            return None
        if method == "publish":
            track = StubTrack(args["kind"])
            options = {"name": args.get("name", ""), "muted": args.get("muted", False)}
            published = await room.publish(track, source=args.get("source"), **options)
            return local_publication_record(published)
        if method in ("mute", "unmute", "unpublish"):
            sid = args["track_sid"]
            local = next((o.publication for o in room._outgoing.values() if o.publication.track_sid == sid), None)
            if local is None:
                raise ScriptFailed(f"{method}: no local publication {sid!r}")
            if method == "unpublish":
                await room.unpublish(local)
            else:
                await local.mute() if method == "mute" else await local.unmute()
            return None
        if method == "subscribe":
            await room.subscribe(args["track_sid"])
            return None
        if method == "unsubscribe":
            await room.unsubscribe(args["track_sid"])
            return None
        if method == "renew_token":
            renewed = await room.renew_token(args["token"])
            return {"expires_at": renewed.expires_at, "privileges": renewed.privileges}
        raise ScriptFailed(f"unknown method {method!r}")

    async def expect_call(self, expected: Json) -> None:
        if self.call is None:
            raise ScriptFailed("no call to wait for")
        try:
            result = await asyncio.wait_for(asyncio.shield(self.call), WAIT)
        except TimeoutError:
            raise ScriptFailed(f"the call did not finish within {WAIT} s") from None
        except ScriptFailed:
            raise
        except Exception as exc:
            outcome: Json = {"error": error_record(exc)}
        else:
            outcome = {"ok": True, "result": result}
        found = mismatches(expected, outcome)
        if found:
            raise ScriptFailed(f"call outcome {outcome!r}:\n  " + "\n  ".join(found))

    async def expect_sent(self, expected: Json) -> None:
        while True:
            try:
                frame = await asyncio.wait_for(self.server.sent.get(), WAIT)
            except TimeoutError:
                raise ScriptFailed(f"the SDK sent nothing within {WAIT} s") from None
            if frame.get("type") != "ping":
                break
        found = mismatches(expected, frame)
        if found:
            raise ScriptFailed(f"sent {frame!r}:\n  " + "\n  ".join(found))
        self.sent = frame

    async def expect_events(self, expected: Json) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        while len(self.events) < len(expected) and loop.time() < deadline:
            await asyncio.sleep(0.005)
        await self.settle()
        got, self.events = self.events, []
        wanted = [{"event": e["event"], "data": e.get("data", {})} for e in expected]
        found = mismatches(wanted, got)
        if found:
            raise ScriptFailed(f"events {json.dumps(got, indent=1)}:\n  " + "\n  ".join(found))

    async def settle(self) -> None:
        """Return once every delivered frame has been handled (queues empty for a few turns)."""
        quiet = 0
        for _ in range(400):
            await asyncio.sleep(0.005)
            busy = any(not s.closed and not s.incoming.empty() for s in self.server.sockets)
            if self.room is not None:
                busy = busy or not self.room._inbox.empty()
            quiet = 0 if busy else quiet + 1
            if quiet >= 4:
                return


async def run_script(script: Json) -> None:
    await PythonRunner(script).run()
