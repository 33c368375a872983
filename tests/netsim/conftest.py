"""The relay's tests send through it to a UDP echo target."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hubbub.netsim.probe import Echo, echo_server


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    async with echo_server() as target:
        yield target
