"""A Chromium participant's media goes through an impairment relay (the call page's ``?relay=``,
the Web SDK's ``mediaRelay``), the other Chromium's does not; after a reconnection the new peer
connections go through it again, and with UDP to the relay blocked they reach it over ICE-TCP."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from test_call_chromium import (  # type: ignore[import-not-found]  # a sibling, on sys.path under pytest
    Opener,
    _can_block_udp,
    open_page,
    server,
    until,
    wait_decoding,
)

from hubbub.netsim import Impairment, Relay

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]
__all__ = ["open_page", "server"]  # the fixtures, from test_call_chromium

DELAY_DOWN_MS = 50.0

# The remote candidate of each connection's selected pair, and its round trip (Chromium's stats).
SELECTED = """async () => {
  const found = [];
  for (const pc of [hubbubRoom._publisher, hubbubRoom._subscriber]) {
    if (!pc) continue;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    const remote = pair && stats.get(pair.remoteCandidateId);
    found.push(remote ? [remote.address, remote.port, remote.protocol, pair.currentRoundTripTime ?? null] : null);
  }
  return found;
}"""


@pytest_asyncio.fixture(loop_scope="module")
async def relay(server: Any) -> AsyncIterator[Relay]:
    transport = server.platform.transport
    media, tcp = transport.udp_address, transport.tcp_address
    async with Relay(
        to=("127.0.0.1", media[1]),
        tcp_to=("127.0.0.1", tcp[1]) if tcp is not None else None,
        down=Impairment(delay_ms=DELAY_DOWN_MS),
    ) as r:
        yield r


async def selected(page: Any) -> list[Any]:
    """Wait until both connections have a selected pair with a round trip; return them."""
    for _ in range(100):
        found = list(await page.evaluate(SELECTED))
        if len(found) == 2 and all(f is not None and f[3] is not None for f in found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no selected candidate pairs: {found}")


async def below(page: Any, seconds: float, timeout: float = 10.0) -> None:
    """Wait until each connection's round trip has been under ``seconds`` at least once."""
    lowest: list[float] = []
    for _ in range(int(timeout / 0.2)):
        now = [f[3] for f in await selected(page)]
        lowest = [min(a, b) for a, b in zip(lowest, now, strict=True)] if lowest else now
        if all(rtt < seconds for rtt in lowest):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"round trips stay at {lowest} s, not under {seconds} s")


async def test_one_chromiums_media_goes_through_the_relay(open_page: Opener, server: Any, relay: Relay) -> None:
    host, port = relay.address
    alice = await open_page("alice", "c-relay", relay=f"{host}:{port}")
    bob = await open_page("bob", "c-relay")
    await asyncio.gather(wait_decoding(alice, ["bob"]), wait_decoding(bob, ["alice"]))

    media_port = server.platform.transport.udp_address[1]
    through, direct = await selected(alice), await selected(bob)
    assert [f[:3] for f in through] == [[host, port, "udp"]] * 2, through
    assert [f[1:3] for f in direct] == [[media_port, "udp"]] * 2, direct
    # The relay's delay is in alice's round trips (all of it, always) and not in bob's: his fall below
    # it (Chromium's round trip on two busy cores jumps by tens of milliseconds, so he gets a few tries).
    assert all(f[3] >= 0.95 * DELAY_DOWN_MS / 1000 for f in through), through
    await below(bob, 0.95 * DELAY_DOWN_MS / 1000)
    before = relay.stats()
    assert before["up"]["forwarded"] > 30 and before["down"]["forwarded"] > 30, before

    # A resume builds new peer connections from new SDP: they go through the relay too.
    await alice.evaluate("window.oldPcs = [hubbubRoom._publisher, hubbubRoom._subscriber]; true")
    await alice.evaluate("hubbubRoom._ws.close()")
    await until(alice, "hubbubEvents.some(e => e.name === 'reconnected')")
    await until(alice, "hubbubRoom._publisher !== oldPcs[0] && hubbubRoom._subscriber !== oldPcs[1]")
    await asyncio.gather(wait_decoding(alice, ["bob"], audio=False), wait_decoding(bob, ["alice"], audio=False))
    assert [f[:3] for f in await selected(alice)] == [[host, port, "udp"]] * 2
    after = relay.stats()
    assert after["flows"] > before["flows"] and after["up"]["forwarded"] > before["up"]["forwarded"]


@pytest.mark.skipif(not _can_block_udp(), reason="needs root and nftables to block UDP")
async def test_ice_tcp_goes_through_the_relay_when_udp_is_blocked(open_page: Opener, server: Any, relay: Relay) -> None:
    """The rewritten TCP candidate leads to the relay's TCP port, which forwards to the ICE-TCP port."""
    host, port = relay.address
    table = f"hubbub_no_udp_relay_{os.getpid()}"
    rules = (
        f"table inet {table} {{\n  chain out {{\n    type filter hook output priority 0;\n"
        f"    udp dport {port} drop\n  }}\n}}\n"
    )
    subprocess.run(["nft", "-f", "-"], input=rules.encode(), check=True)
    try:
        alice = await open_page("alice", "c-relay-tcp", relay=f"{host}:{port}")
        bob = await open_page("bob", "c-relay-tcp")
        await asyncio.gather(wait_decoding(alice, ["bob"]), wait_decoding(bob, ["alice"]))
        assert [f[:3] for f in await selected(alice)] == [[host, port, "tcp"]] * 2
        room = server.platform.rooms.room(server.app_id, "c-relay-tcp")
        assert room is not None
        media = server.platform.rooms.media_of(room)
        by_identity = {p.identity: p for p in room.participants.values()}
        assert all(peer.over_tcp for peer in media.participant(by_identity["alice"]).peers())
        assert not any(peer.over_tcp for peer in media.participant(by_identity["bob"]).peers())
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=False)
