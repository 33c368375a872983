"""Shared fixtures: a real PostgreSQL server started for the session, and a platform per test.

Tests that take ``platform`` or ``client`` run twice: on an SQLite file and on PostgreSQL.
PostgreSQL comes from Debian's packages (``scripts/test.sh`` installs it); when it is missing the
postgres variants are skipped, unless ``HUBBUB_REQUIRE_POSTGRES=1`` (set by the test script), in
which case they fail.
"""

from __future__ import annotations

import asyncio
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from hubbub.config import Settings
from hubbub.server import Platform
from hubbub.util.clock import ManualClock


def _find_pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A throwaway cluster in a temporary directory, listening on 127.0.0.1 with trust auth."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="hubbub-pg-"))
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
        self._counter = itertools.count()

    def start(self) -> None:
        data = self.root / "data"
        subprocess.run(
            [
                *self._as,
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "hubbub",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.proc = subprocess.Popen(
            [
                *self._as,
                str(self.bindir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("PostgreSQL exited during start-up") from None
                time.sleep(0.1)
        else:
            raise RuntimeError("PostgreSQL did not start in 30 s")
        time.sleep(0.3)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://hubbub@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints

        name = f"t{os.getpid()}_{next(self._counter)}"

        async def create() -> None:
            for attempt in range(20):
                try:
                    conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="hubbub", database="postgres")
                    break
                except (OSError, asyncpg.CannotConnectNowError):
                    if attempt == 19:
                        raise
                    await asyncio.sleep(0.2)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bindir = _find_pg_bin()
    if bindir is None:
        if os.environ.get("HUBBUB_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (HUBBUB_REQUIRE_POSTGRES=1) but initdb was not found")
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs it)")
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hubbub.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_795_000_000.0)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        login_attempts_per_minute=5,
        rtc_udp_port=0,
        rtc_tcp_port=0,
    )


@pytest.fixture
async def platform(settings: Settings, clock: ManualClock) -> AsyncIterator[Platform]:
    p = await Platform.start(settings, clock=clock)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hubbub.test") as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium through Playwright (never a downloaded browser), one per test module."""
    from hubbub.bench.setup import CHROMIUM, CHROMIUM_FLAGS

    if not Path(CHROMIUM).exists():
        if os.environ.get("HUBBUB_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"HUBBUB_REQUIRE_CHROMIUM=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            await b.close()
