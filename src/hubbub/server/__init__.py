"""Composition root: wires storage, control, API (and later media, messaging, agents)."""

from hubbub.server.platform import Platform, serve

__all__ = ["Platform", "serve"]
