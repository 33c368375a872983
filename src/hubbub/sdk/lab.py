"""A lab option: send this client's media through an impairment relay (``hubbub netsim``).

The server is ICE-lite: it never sends connectivity checks and learns each client's address from
the checks the client sends to the candidates in the server's SDP. A client that replaces those
candidates with a relay's address therefore sends all its media to the relay, which forwards it
to the real media port from a socket of its own; the server answers that socket, and the relay
carries the answer back. Nothing else changes: the other participants keep talking to the media
port directly, and signaling never goes through the relay.

:func:`through_relay` is that rewrite, applied by :class:`~hubbub.sdk.negotiation.Negotiation`
to every remote description it sets (each subscriber offer, each publisher answer: the first,
renegotiations, ICE restarts and those after a reconnection). In each ``a=candidate`` line, UDP
and TCP alike, the address and port become the relay's (duplicates that result are dropped), and
the ``c=`` address and ``m=`` port follow, so the default candidate is the relay too.
``a=end-of-candidates`` and every other line stay as they are.

Turn it on with ``connect(..., media_relay="127.0.0.1:40000")``. It is for tests and
benchmarks only; the relay must listen for UDP (and TCP, for ICE-TCP) on that address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["MediaRelay", "through_relay"]


@dataclass(frozen=True, slots=True)
class MediaRelay:
    """The relay's address: an IP literal (IPv4 or IPv6) and a port, UDP and TCP alike."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> MediaRelay:
        """``"host:port"`` (``"[v6]:port"`` for IPv6); raises :class:`ValueError` for anything else."""
        host, sep, port = text.strip().rpartition(":")
        bracketed = host.startswith("[") and host.endswith("]")
        host = host[1:-1] if bracketed else host
        try:
            ip = ipaddress.ip_address(host)
            number = int(port)
        except ValueError:
            raise ValueError(f"media relay {text!r} is not 'IP:port'") from None
        if not sep or not 0 < number < 65536 or (ip.version == 6) != bracketed:
            raise ValueError(f"media relay {text!r} is not 'IP:port'")
        return cls(str(ip), number)

    @property
    def addr_type(self) -> str:
        """``IP4`` or ``IP6``, as a ``c=`` line names it (RFC 8866 §5.7)."""
        return "IP6" if ":" in self.host else "IP4"

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _candidate(line: str, relay: MediaRelay) -> tuple[str, tuple[str, ...]]:
    """The rewritten ``a=candidate`` line (RFC 8839 §5.1) and what makes it a duplicate."""
    fields = line.split(" ")
    if len(fields) < 8 or fields[6] != "typ":
        return line, (line,)
    fields[4], fields[5] = relay.host, str(relay.port)
    # Same component, transport and, for TCP, tcptype (RFC 6544 §4.5): one candidate.
    tcptype = fields[fields.index("tcptype") + 1] if "tcptype" in fields[8:-1] else ""
    return " ".join(fields), (fields[1], fields[2].lower(), tcptype)


def through_relay(sdp: str, relay: MediaRelay) -> str:
    """``sdp`` with every server candidate (and the ``c=``/``m=`` default) moved to ``relay``."""
    newline = "\r\n" if "\r\n" in sdp else "\n"
    out: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for line in sdp.splitlines():
        if line.startswith("m="):
            seen = set()
            fields = line.split(" ")
            if len(fields) > 2 and fields[1] not in ("0", "9"):  # 0: rejected, 9: no default (RFC 8840)
                fields[1] = str(relay.port) + (fields[1][fields[1].find("/") :] if "/" in fields[1] else "")
                line = " ".join(fields)
        elif line.startswith("c=IN "):
            fields = line.split(" ")
            if len(fields) == 3 and fields[2] not in ("0.0.0.0", "::"):
                line = f"c=IN {relay.addr_type} {relay.host}"
        elif line.startswith("a=candidate:"):
            line, key = _candidate(line, relay)
            if key in seen:
                continue
            seen.add(key)
        out.append(line)
    return newline.join(out) + (newline if sdp.endswith(("\n", "\r")) else "")
