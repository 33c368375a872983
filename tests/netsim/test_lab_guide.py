"""docs/network-lab.md says what the code does: its profile table is PROFILES, its example runs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from hubbub.netsim import PROFILES, Impairment

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "network-lab.md"


def _n(x: float) -> str:
    return f"{x:g}" if x else "-"


def _row(name: str, direction: str, i: Impairment) -> str:
    burst = f"{i.burst.p * 100:g}, {i.burst.r * 100:g}" if i.burst else "-"
    outage = f"{i.outage_s:g} s every {i.outage_every_s:g} s" if i.outage_every_s else "-"
    cells = [f"`{name}`", direction, _n(i.delay_ms), _n(i.jitter_ms), _n(i.loss * 100), burst]
    cells += [_n(i.rate_kbps), _n(i.queue_ms), outage]
    return "| " + " | ".join(cells) + " |"


def test_the_profile_table_is_the_profiles() -> None:
    documented = [line for line in GUIDE.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    expected = []
    for p in PROFILES.values():
        if p.up.duplicate or p.down.duplicate or p.up.reorder or p.down.reorder or p.up.queue_bytes:
            raise AssertionError(f"{p.name}: the table has no column for this; add one")
        pairs = [("both", p.up)] if p.up == p.down else [("up", p.up), ("down", p.down)]
        expected += [_row(p.name, d, i) for d, i in pairs]
    table = [line for line in documented if any(line.startswith(f"| `{name}` |") for name in PROFILES)]
    assert table == expected
    for name in ("clean", "wifi", "4g", "3g", "lossy-10", "lossy-30", "congested-1m", "congested-300k"):
        assert name in PROFILES
    assert PROFILES["flaky"].up.outage_s == 2


async def test_the_python_example_relays_and_prints_its_counters() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "docs" / "examples" / "netsim_relay.py"), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    first, last = out.decode().strip().splitlines()
    assert first.startswith("clients send to ('127.0.0.1', ")
    stats = json.loads(last)
    assert stats["flows"] == 1 and stats["up"]["submitted"] == 1500
    assert stats["up"]["dropped"]["loss"] > 30  # 5% of 1500
    assert stats["up"]["dropped"]["queue"] > 100  # 800 kbit/s offered to 300 kbit/s for a second
    assert stats["down"]["dropped"]["loss"] > 0  # 3g: 1%
