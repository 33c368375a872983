"""Signaling: the ``/rtc/v1`` protocol that drives rooms (frames in hubbub.schema.signaling),
as a sans-I/O handler the server's connection host runs, one per socket."""

from hubbub.signaling.handler import SignalingHandler

__all__ = ["SignalingHandler"]
