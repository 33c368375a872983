"""Composition root: wires storage, control, API (and later media, messaging, agents)."""

from hubbub.server.platform import ListenError, Platform, serve

__all__ = ["ListenError", "Platform", "serve"]
