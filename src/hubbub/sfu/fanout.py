"""What the SFU's native forwarder needs from the layer below: the fan-out contract.

The transport's sender owns the SRTP context and the socket of each subscriber connection
(``hubbub.transport.sender``). The SFU never reaches into it: a subscriber's sink that can take
native fan-out entries says so by being a :class:`FanoutSink`, and the forwarder is given a
:class:`Fanout` that makes the per-up-track groups. The SFU hands each entry the state of one
down-track (:class:`FanoutEntry`); the group rewrites, protects and sends every copy of a packet
in one call and returns the down-tracks that need the Python slow path.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hubbub.sfu.types import PacketSink

__all__ = ["Fanout", "FanoutEntry", "FanoutGroup", "FanoutSink", "MungerState"]

# Munger.snapshot(): (in_ext, in_ts, last_now, seq_off, ts_off, open), see hubbub.sfu.munger.
MungerState = tuple[int, int, float, int, int, bool]


class FanoutEntry(Protocol):
    """One down-track's state in the native fan-out; the down-track pushes and pulls it."""

    dropping: int  # muted or paused: skipped
    waiting_keyframe: int  # dropped (and counted) until a keyframe, which goes to Python
    slow: int  # every packet to Python (header extension IDs remapped)
    munger: MungerState  # the munger's open epoch, moved on by the steady state
    counters: tuple[int, int, int, int]  # packets_sent, bytes_sent, octets_sent, packets_dropped


class FanoutGroup(Protocol):
    """The entries of one up-track."""

    def set_entries(self, entries: tuple[FanoutEntry, ...], /) -> None: ...

    def forward(
        self, packet: bytes, pt: int, seq: int, ts: int, keyframe: bool, payload_size: int, now: float, /
    ) -> list[int] | None:
        """Send every copy it can; None, or the indices of the entries that need Python."""
        ...


class Fanout(Protocol):
    """Makes groups (given to :class:`~hubbub.sfu.forwarder.NativeForwarder`)."""

    def group(self) -> FanoutGroup: ...


@runtime_checkable
class FanoutSink(PacketSink, Protocol):
    """A sink whose sender can run a down-track's steady state natively."""

    def fanout_entry(self, ssrc: int, pt_map: bytes) -> FanoutEntry | None:
        """An entry sending on ``ssrc`` through this sink's SRTP context, or None if it cannot."""
        ...
