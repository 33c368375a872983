"""The STUN/TURN servers a client is told about in ``joined.ice_servers``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from hubbub.schema import signaling as sig


def ice_servers(urls: Sequence[str], turn_secret: str, ttl: float, identity: str, now: float) -> list[sig.IceServer]:
    """STUN URLs as one entry; TURN URLs as another with a time-limited credential (the TURN REST
    scheme coturn checks with ``use-auth-secret``: username ``<expiry>:<user>``, base64 HMAC-SHA1)."""
    stun = [u for u in urls if u.startswith(("stun:", "stuns:"))]
    turn = [u for u in urls if u.startswith(("turn:", "turns:"))]
    servers = [sig.IceServer(urls=stun)] if stun else []
    if turn:
        username = f"{int(now + ttl)}:{identity}"
        digest = hmac.new(turn_secret.encode(), username.encode(), hashlib.sha1).digest()
        servers.append(sig.IceServer(urls=turn, username=username, credential=base64.b64encode(digest).decode()))
    return servers
