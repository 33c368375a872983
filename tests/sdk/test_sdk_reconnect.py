"""A reconnection alone, against a fake room and a fake signaling client, on a manual clock."""

from __future__ import annotations

import asyncio
import random

import pytest

from hubbub.schema import signaling as proto
from hubbub.sdk import Backoff, ConnectionLostError, HubbubError, JoinError, Reconnected, Reconnecting, RoomEvent
from hubbub.sdk.reconnect import Reconnection


def joined_frame(*, resumed: bool) -> proto.Joined:
    me = proto.ParticipantInfo(sid="PA", identity="me", role="host")
    return proto.Joined(
        room=proto.RoomInfo(sid="RM", channel="c", created_at=1.0), participant=me, participants=[], resumed=resumed
    )


class FakeSignal:
    def __init__(self, outcome: proto.Joined | Exception, log: list[str]) -> None:
        self.outcome = outcome
        self.log = log
        self.resumed_with: tuple[proto.Join, float] | None = None

    async def drop(self) -> None:
        self.log.append("drop")

    async def resume(self, join: proto.Join, *, deadline: float) -> proto.Joined:
        self.log.append("resume")
        self.resumed_with = (join, deadline)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeRoom:
    def __init__(self, *, restore_error: Exception | None = None) -> None:
        self.log: list[str] = []
        self.events: list[RoomEvent] = []
        self.ended: ConnectionLostError | None = None
        self.restore_error = restore_error

    @property
    def reconnect_window(self) -> float:
        return 7.0

    def _emit(self, event: RoomEvent) -> None:
        self.events.append(event)

    def _notify(self) -> None:
        self.log.append("notify")

    def _resume_join(self) -> proto.Join:
        return proto.Join(token="tok", resume_sid="PA", resume_key="key")

    async def _close_media(self) -> None:
        self.log.append("close_media")

    async def _wait_applied(self, joined: proto.Joined) -> None:
        self.log.append("applied")

    async def _restore_publishing(self, resumed: bool) -> None:
        self.log.append(f"restore resumed={resumed}")
        if self.restore_error is not None:
            raise self.restore_error

    async def _end(self, error: ConnectionLostError) -> None:
        self.log.append("end")
        self.ended = error


async def run(room: FakeRoom, signal: FakeSignal) -> Reconnection:
    reconnection = Reconnection(room, signal, clock=lambda: 100.0)
    reconnection.start("socket closed")
    reconnection.start("again")  # one at a time
    assert reconnection.active and reconnection.task is not None
    await reconnection.task
    assert not reconnection.active
    return reconnection


async def test_a_resumed_session_restores_publishing_and_says_so() -> None:
    room = FakeRoom()
    signal = FakeSignal(joined_frame(resumed=True), room.log)
    await run(room, signal)
    assert room.log == ["drop", "close_media", "resume", "applied", "restore resumed=True", "notify"]
    assert room.events == [Reconnecting(reason="socket closed"), Reconnected(resumed=True)]
    assert signal.resumed_with is not None
    join, deadline = signal.resumed_with
    assert join.resume_sid == "PA" and join.resume_key == "key" and deadline == 107.0  # now + reconnect_window
    assert room.ended is None


async def test_a_new_participant_is_not_resumed() -> None:
    room = FakeRoom()
    await run(room, FakeSignal(joined_frame(resumed=False), room.log))
    assert "restore resumed=False" in room.log
    assert room.events[-1] == Reconnected(resumed=False)


async def test_a_refused_resume_ends_the_room_with_the_refusal_code() -> None:
    room = FakeRoom()
    await run(room, FakeSignal(JoinError("token_expired", "expired"), room.log))
    assert room.log == ["drop", "close_media", "resume", "end"]
    assert isinstance(room.ended, ConnectionLostError) and room.ended.code == "token_expired"
    assert room.events == [Reconnecting(reason="socket closed")]


async def test_a_window_that_runs_out_ends_the_room_with_that_error() -> None:
    room = FakeRoom()
    lost = ConnectionLostError("could not resume the session in time")
    await run(room, FakeSignal(lost, room.log))
    assert room.ended is lost and room.ended.code == "connection_lost"


@pytest.mark.parametrize("error", [HubbubError("invalid_sdp", "bad offer"), TimeoutError("no answer")])
async def test_a_failure_after_the_resume_ends_the_room(error: Exception) -> None:
    room = FakeRoom(restore_error=error)
    await run(room, FakeSignal(joined_frame(resumed=True), room.log))
    assert room.log[-2:] == ["restore resumed=True", "end"]
    assert isinstance(room.ended, ConnectionLostError) and room.ended.code == "connection_lost"
    assert not any(isinstance(e, Reconnected) for e in room.events)


async def test_cancelling_stops_it() -> None:
    room = FakeRoom()
    signal = FakeSignal(joined_frame(resumed=True), room.log)
    never = asyncio.Event()

    async def hang(join: proto.Join, *, deadline: float) -> proto.Joined:
        await never.wait()
        raise AssertionError("unreachable")

    signal.resume = hang  # type: ignore[method-assign]
    reconnection = Reconnection(room, signal, clock=lambda: 0.0)
    reconnection.start("gone")
    assert reconnection.task is not None
    await asyncio.sleep(0)
    reconnection.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reconnection.task
    assert room.ended is None


def test_backoff_grows_to_its_maximum_within_its_jitter() -> None:
    delays = Backoff(initial=0.25, factor=2.0, maximum=4.0, jitter=0.2).delays(random.Random(7))
    got = [next(delays) for _ in range(8)]
    for delay, nominal in zip(got, [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0], strict=True):
        assert nominal * 0.8 <= delay <= nominal * 1.2
    assert got != [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]  # spread, so clients cut off together spread out
