"""Migrations on SQLite and PostgreSQL: idempotent, at the head revision, SQLite in WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from hubbub.storage.db import MIGRATIONS, create_engine, current_revision, migrate
from hubbub.storage.models import Base


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"migrations must have one head, not {heads}"
    return heads[0]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    e = create_engine(database_url)
    try:
        yield e
    finally:
        await e.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_fresh_database_has_no_revision(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None


async def test_migrate_twice_is_idempotent(engine: AsyncEngine) -> None:
    await migrate(engine)
    assert await current_revision(engine) == head_revision()
    tables = await _tables(engine)
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO users (email, name, password_hash, created_at) VALUES ('k@example.com', 'k', 'h', 1.0)")
        )
    await migrate(engine)
    assert await current_revision(engine) == head_revision()
    assert await _tables(engine) == tables
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT email FROM users"))).scalars().all() == ["k@example.com"]
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all() == [
            head_revision()
        ]


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    await migrate(engine)

    def columns(c: object) -> dict[str, set[str]]:
        insp = inspect(c)
        names = [t for t in insp.get_table_names() if t != "alembic_version"]
        return {t: {col["name"] for col in insp.get_columns(t)} for t in names}

    async with engine.connect() as conn:
        found = await conn.run_sync(columns)
    expected = {t.name: {c.name for c in t.columns} for t in Base.metadata.sorted_tables}
    assert found == expected


async def test_a_new_engine_sees_the_migrated_database(database_url: str, engine: AsyncEngine) -> None:
    await migrate(engine)
    await engine.dispose()
    again = create_engine(database_url)
    try:
        await migrate(again)
        assert await current_revision(again) == head_revision()
    finally:
        await again.dispose()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "hubbub.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()
    # WAL is a property of the file: a connection that sets nothing sees it too
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()
