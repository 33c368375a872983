"""Flags shared by commands that read the platform's settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from hubbub.cli import CliError
from hubbub.config import ConfigError, Settings, load_settings

# The settings a flag may set; each flag is the setting's name with dashes (--data-dir: data_dir).
SETTINGS_FLAGS = (
    "host",
    "port",
    "data_dir",
    "database_url",
    "rtc_host",
    "rtc_udp_port",
    "rtc_tcp_port",
    "announced_ip",
    "log_level",
    "log_format",
)


def flag_of(setting: str) -> str:
    """The command-line flag of a setting, or "" if it has none."""
    return "--" + setting.replace("_", "-") if setting in SETTINGS_FLAGS else ""


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
    media = parser.add_argument_group("media (the SFU's ports; a second server on this host needs its own)")
    media.add_argument(
        "--rtc-host", metavar="ADDR", help="media listen address (default: the same as --host; $HUBBUB_RTC_HOST)"
    )
    media.add_argument(
        "--rtc-udp-port",
        type=int,
        metavar="PORT",
        help="UDP port every peer's media uses (default 7881; 0 picks a free one; $HUBBUB_RTC_UDP_PORT)",
    )
    media.add_argument(
        "--rtc-tcp-port",
        type=int,
        metavar="PORT",
        help="ICE-TCP port, for peers whose UDP is blocked (default 7882; 0 picks a free one; $HUBBUB_RTC_TCP_PORT)",
    )
    media.add_argument(
        "--announced-ip",
        metavar="ADDR",
        help="public address put in ICE candidates when the server is behind NAT (default: the local ones; "
        "$HUBBUB_ANNOUNCED_IP)",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-format", choices=["auto", "json", "pretty"])


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in SETTINGS_FLAGS}
    try:
        return load_settings(overrides, config_file=args.config)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
