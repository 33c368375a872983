"""Let aiortc offer loopback ICE candidates, for servers that listen on 127.0.0.1 or ::1.

Why this exists
---------------
aioice (the ICE agent under aiortc) builds its host candidates from
:func:`aioice.ice.get_host_addresses`, which deliberately drops ``127.0.0.1`` and ``::1``: on the
open internet a loopback candidate is useless and only costs connectivity checks. When the Hubbub
server itself runs on loopback (development, CI, the test suite, a bench on one machine) that rule
backfires. The server is ICE-lite, so it never sends checks of its own; the client must reach the
server's ``127.0.0.1`` candidate from a local candidate, and the kernel refuses to route a
datagram from a socket bound to an external interface (say ``192.0.2.2``) to ``127.0.0.1`` on
many systems, or the server answers from an address the pair does not expect. The checks then fail
and the call never connects. (Chromium has the same rule; it needs
``--allow-loopback-in-peer-connection``.)

The switch
----------
:func:`allow_loopback_candidates` replaces ``aioice.ice.get_host_addresses`` with a wrapper that
adds the loopback addresses back, for as long as the context is active. Candidates are gathered
when ``setLocalDescription`` runs, so keep the context open for the whole life of the peer
connections, not just around their creation. The patch is process-wide (aioice looks the function
up as a module global), reference counted (nested and concurrent uses are safe: the original is
restored when the last user leaves) and harmless for peers on other hosts: a loopback candidate
simply never succeeds there.

:class:`hubbub.sdk.Client` turns it on by itself when the server URL's host is a loopback
address (see :func:`is_loopback_host`); pass ``loopback=True`` or ``False`` to ``connect`` to
decide yourself.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aioice.ice

__all__ = ["allow_loopback_candidates", "is_loopback_host", "loopback_candidates_allowed"]

_HostAddresses = Callable[[bool, bool], list[str]]

_lock = threading.Lock()
_users = 0
_original: _HostAddresses | None = None


def _with_loopback(original: _HostAddresses) -> _HostAddresses:
    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = list(original(use_ipv4, use_ipv6))
        if use_ipv4 and "127.0.0.1" not in addresses:
            addresses.append("127.0.0.1")
        if use_ipv6 and "::1" not in addresses and _has_ipv6_loopback():
            addresses.append("::1")
        return addresses

    get_host_addresses.__wrapped__ = original  # type: ignore[attr-defined]
    return get_host_addresses


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def loopback_candidates_allowed() -> bool:
    """True while at least one :func:`allow_loopback_candidates` context is active."""
    return _users > 0


@contextmanager
def allow_loopback_candidates() -> Iterator[None]:
    """Make every aiortc/aioice peer in this process gather loopback host candidates.

    >>> with allow_loopback_candidates():
    ...     ...  # create peer connections and run setLocalDescription here
    """
    global _users, _original
    with _lock:
        if _users == 0:
            _original = aioice.ice.get_host_addresses
            aioice.ice.get_host_addresses = _with_loopback(_original)  # type: ignore[assignment]
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _original is not None:
                aioice.ice.get_host_addresses = _original  # type: ignore[assignment]
                _original = None


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``127.0.0.0/8`` and ``::1`` (with or without IPv6 brackets)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
