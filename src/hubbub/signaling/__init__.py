"""Signaling: the WebSocket ``/rtc/v1`` sessions that drive rooms (protocol in hubbub.schema.signaling)."""

from hubbub.signaling.session import SignalingSession

__all__ = ["SignalingSession"]
