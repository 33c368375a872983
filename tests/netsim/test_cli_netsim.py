"""``hubbub netsim``: flags to impairments, clear errors, and a real run printing its counters."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from hubbub.cli import build_parser, main
from hubbub.cli.netsim import impairments
from hubbub.netsim import Burst, Impairment, profile
from hubbub.netsim.framing import Deframer, frame
from hubbub.netsim.probe import Echo, probe


def parsed(*argv: str) -> tuple[Impairment, Impairment]:
    up, down = impairments(build_parser().parse_args(["netsim", "--to", "127.0.0.1:9", *argv]))
    assert isinstance(up, Impairment) and isinstance(down, Impairment)
    return up, down


def test_plain_flags_apply_to_both_directions_and_prefixed_ones_to_one() -> None:
    up, down = parsed("--loss", "5", "--delay", "40", "--down-delay", "80", "--up-rate", "500", "--up-queue-ms", "200")
    assert up == Impairment(loss=0.05, delay_ms=40, rate_kbps=500, queue_ms=200)
    assert down == Impairment(loss=0.05, delay_ms=80)


def test_flags_change_a_profile() -> None:
    up, down = parsed("--profile", "3g", "--down-loss", "0", "--burst", "2,25", "--outage", "10,2", "--reorder")
    base = profile("3g")
    assert down == base.down.with_changes(
        loss=0.0, burst=Burst(0.02, 0.25), outage_every_s=10.0, outage_s=2.0, reorder=True
    )
    assert up.loss == base.up.loss and up.rate_kbps == base.up.rate_kbps


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--to", "nowhere"], "--to takes HOST:PORT"),
        (["--to", "127.0.0.1:9", "--loss", "abc"], "--loss: cannot read 'abc'"),
        (["--to", "127.0.0.1:9", "--up-loss", "150"], "between 0 and 100"),
        (["--to", "127.0.0.1:9", "--profile", "dialup"], "unknown profile 'dialup'"),
        (["--to", "127.0.0.1:9", "--burst", "1"], "--burst: cannot read"),
        (["--to", "127.0.0.1:9", "--outage", "2,3"], "outage_s must be shorter"),
        (["--to", "127.0.0.1:9", "--script", "/nonexistent/steps.txt"], "cannot read --script"),
        ([], "needs --to"),
    ],
)
def test_bad_flags_get_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["netsim", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hubbub: ") and message in err and "Traceback" not in err


def test_a_bad_script_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "steps.txt"
    script.write_text("10 rate_kbps=500\n20 speed=3\n", encoding="utf-8")
    assert main(["netsim", "--to", "127.0.0.1:9", "--script", str(script)]) == 2
    assert "line 2: unknown impairment field 'speed'" in capsys.readouterr().err


def test_profiles_lists_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["netsim", "--profiles"]) == 0
    names = [json.loads(line)["profile"] for line in capsys.readouterr().out.splitlines()]
    assert {"clean", "wifi", "4g", "3g", "lossy-10", "lossy-30", "congested-1m", "congested-300k"} <= set(names)
    assert {"satellite", "flaky"} <= set(names)


async def test_a_run_relays_and_prints_what_it_forwarded_and_dropped(echo: Echo, tmp_path: Path) -> None:
    script = tmp_path / "steps.txt"
    script.write_text("0.2 down loss=0\n", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "netsim", "--to", f"{echo.address[0]}:{echo.address[1]}",
        "--up-loss", "50", "--loss", "10", "--seed", "1", "--interval", "0.5", "--duration", "2.5",
        "--script", str(script),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
    host, port = first["listening"].rsplit(":", 1)
    assert first["up"]["loss"] == 0.5 and first["down"]["loss"] == 0.1
    got = await probe((host, int(port)), 400, 400, settle=0.2)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert any("step" in line and line["down"]["loss"] == 0 for line in lines)
    assert any("up" in line and not line.get("final") and "step" not in line for line in lines)  # periodic lines
    final = lines[-1]
    assert final["final"] is True and final["flows"] == 1
    assert final["up"]["submitted"] == 400
    assert final["up"]["forwarded"] + final["up"]["dropped"]["loss"] == 400
    assert 120 < final["up"]["dropped"]["loss"] < 280
    assert final["down"]["forwarded"] == len(got.arrivals) + sum(len(t) - 1 for t in got.arrivals.values())


async def test_tcp_relays_ice_tcp_frames(echo: Echo, tcp_echo: tuple[str, int]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hubbub", "netsim", "--to", f"{echo.address[0]}:{echo.address[1]}",
        "--tcp-to", f"{tcp_echo[0]}:{tcp_echo[1]}", "--delay", "10", "--duration", "1.5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 20))
    assert first["tcp"] is True
    host, port = first["listening"].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    packets = [bytes([i]) * (i + 1) for i in range(50)]
    writer.write(b"".join(frame(p) for p in packets))
    deframer = Deframer()
    echoed: list[bytes] = []
    while len(echoed) < 50:
        echoed += deframer.feed(await asyncio.wait_for(reader.read(65536), 10))
    writer.close()
    assert echoed == packets
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    final = json.loads(out.decode().splitlines()[-1])
    assert final["final"] is True and final["up"]["forwarded"] == 50 and final["down"]["forwarded"] == 50


def test_a_busy_listen_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        assert main(["netsim", "--listen", f"127.0.0.1:{port}", "--to", "127.0.0.1:9", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"hubbub: cannot relay from 127.0.0.1:{port}: Address already in use"
