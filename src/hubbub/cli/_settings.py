"""Flags shared by commands that read the platform's settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from hubbub.cli import CliError
from hubbub.config import ConfigError, Settings, load_settings


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML settings file (or $HUBBUB_CONFIG)")
    parser.add_argument("--host", help="HTTP listen address (default 127.0.0.1; $HUBBUB_HOST)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8080; 0 picks a free one; $HUBBUB_PORT)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the SQLite database and keys live (default ./data; $HUBBUB_DATA_DIR)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql+asyncpg://user:pass@host/db to use PostgreSQL instead of SQLite",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["auto", "json", "pretty"])


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name, None)
        for name in ("host", "port", "data_dir", "database_url", "log_level", "log_format")
    }
    try:
        return load_settings(overrides, config_file=args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
