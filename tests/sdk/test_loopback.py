"""The loopback switch: aiortc gathers a 127.0.0.1 host candidate only while it is on."""

from __future__ import annotations

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from hubbub.sdk.loopback import allow_loopback_candidates, is_loopback_host, loopback_candidates_allowed


async def _host_candidate_addresses() -> set[str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        addresses = set()
        for line in pc.localDescription.sdp.splitlines():
            if line.startswith("a=candidate:"):
                fields = line.split()
                assert fields[7] == "host"
                addresses.add(fields[4])
        return addresses
    finally:
        await pc.close()


async def test_without_the_switch_no_loopback_candidate() -> None:
    assert not loopback_candidates_allowed()
    addresses = await _host_candidate_addresses()
    assert "127.0.0.1" not in addresses


async def test_with_the_switch_a_loopback_candidate_is_gathered() -> None:
    with allow_loopback_candidates():
        assert loopback_candidates_allowed()
        addresses = await _host_candidate_addresses()
    assert "127.0.0.1" in addresses
    assert "127.0.0.1" not in await _host_candidate_addresses()


def test_switch_is_reference_counted_and_restores_aioice() -> None:
    original = aioice.ice.get_host_addresses
    with allow_loopback_candidates():
        patched = aioice.ice.get_host_addresses
        assert patched is not original
        assert "127.0.0.1" in patched(True, False)
        with allow_loopback_candidates():
            assert aioice.ice.get_host_addresses is patched
        assert aioice.ice.get_host_addresses is patched  # the outer user still needs it
        assert patched(False, False) == []  # no IPv4 asked for, none added
    assert aioice.ice.get_host_addresses is original
    assert not loopback_candidates_allowed()


def test_switch_is_restored_after_an_exception() -> None:
    original = aioice.ice.get_host_addresses
    with pytest.raises(RuntimeError), allow_loopback_candidates():
        raise RuntimeError("boom")
    assert aioice.ice.get_host_addresses is original


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("192.0.2.2", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected
