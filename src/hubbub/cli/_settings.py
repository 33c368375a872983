"""Flags shared by commands that read the platform's settings."""

from __future__ import annotations

import argparse
from pathlib import Path

from hubbub.cli.errors import CliError
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


# --- the settings reference (docs/settings.md) ------------------------------------------------

# Variables read outside the settings models: (name, flag, default, meaning), by group.
OTHER_VARIABLES: tuple[tuple[str, tuple[tuple[str, str, str, str], ...]], ...] = (
    (
        "Server process",
        (
            ("HUBBUB_CONFIG", "--config", "", "Path of a TOML settings file (`hubbub serve`, `hubbub config show`)."),
            (
                "HUBBUB_INFERENCE_THREADS",
                "",
                "the core count",
                "Threads of the pool that runs voice agents' blocking inference (speech recognition, TTS, "
                "embedded LLM).",
            ),
        ),
    ),
    (
        "Command-line clients (`hubbub token`, `hubbub agent`)",
        (
            ("HUBBUB_APP_ID", "--app-id", "", "The project's App ID."),
            (
                "HUBBUB_APP_CERTIFICATE",
                "--app-certificate",
                "",
                "The App Certificate `hubbub token` signs with. Prefer the variable: a flag shows in process lists.",
            ),
            ("HUBBUB_URL", "--url", "`http://127.0.0.1:8080`", "The server `hubbub agent` talks to."),
            ("HUBBUB_API_KEY", "--api-key", "", "An API key (`hk_<id>.<secret>`) for `hubbub agent`."),
        ),
    ),
    (
        "Install and test scripts (`scripts/*.sh`, the test suite)",
        (
            ("HUBBUB_VENV", "", "`.venv` in the checkout", "The virtual environment the scripts create and use."),
            ("HUBBUB_PYTHON", "", "`python3`", "The interpreter the virtual environment is made from."),
            (
                "HUBBUB_WHEEL_CACHE",
                "",
                "`$XDG_CACHE_HOME/hubbub/wheels`",
                "Where `scripts/build-llama.sh` keeps the llama-cpp-python wheel it builds.",
            ),
            ("HUBBUB_REQUIRE_POSTGRES", "", "", "`1`: a test that needs PostgreSQL fails instead of skipping."),
            ("HUBBUB_REQUIRE_CHROMIUM", "", "", "`1`: a test that needs Chromium fails instead of skipping."),
            (
                "HUBBUB_REQUIRE_AGENT_MODELS",
                "",
                "",
                "`1`: a test that needs a bundled speech model fails instead of skipping.",
            ),
            ("HUBBUB_BENCH_KEEP", "", "", "Set: `hubbub bench` keeps the Janus working directory it made."),
        ),
    ),
)

REGENERATE = ".venv/bin/python scripts/gen-settings-doc.py"


def _default_text(value: object) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    text = str(value)
    return f"`{text}`" if text else "*(empty)*"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_markdown() -> str:
    """docs/settings.md: every ``HUBBUB_*`` variable with its flag, default and meaning, from the models."""
    from dataclasses import MISSING, fields

    from hubbub.config import ENV_PREFIX
    from hubbub.messaging.config import MessagingSettings

    out = [
        "# Settings reference",
        "",
        f"<!-- Generated from the settings models by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "`hubbub serve` reads each setting from, highest precedence first: its command-line flag, its",
        "`HUBBUB_*` environment variable, a TOML file (`--config FILE` or `$HUBBUB_CONFIG`), the default.",
        "`hubbub config show` prints the result, secrets masked. In the TOML file a setting is its name,",
        "at top level or under a `[hubbub]` table:",
        "",
        "<!-- not-an-example: a settings file; tests/docs/test_settings_doc.py loads it with the server's loader -->",
        "```toml",
        "[hubbub]",
        'host = "127.0.0.1"',
        "port = 8080",
        'announced_ip = "203.0.113.10"',
        'database_url = "postgresql+asyncpg://hubbub:secret@127.0.0.1:5432/hubbub"',
        "```",
        "",
        "Booleans are `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off` in variables); durations are",
        "seconds. See [deployment](deployment.md) for how the media settings fit NAT and a reverse proxy.",
        "",
        "## Server",
        "",
        "| Setting | Variable | Flag | Default | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in fields(Settings):
        flag = flag_of(f.name)
        out.append(
            f"| `{f.name}` | `{ENV_PREFIX}{f.name.upper()}` | {f'`{flag}`' if flag else ''} "
            f"| {_default_text(f.default)} | {_cell(str(f.metadata.get('doc', '')))} |"
        )
    out += [
        "",
        "## Messaging",
        "",
        "Limits and storage of real-time messaging (`/rtm/v1`), from `HUBBUB_RTM_*` environment variables only",
        "(no flag, not in the TOML file).",
        "",
        "| Setting | Variable | Default | Meaning |",
        "| --- | --- | --- | --- |",
    ]
    for f in fields(MessagingSettings):
        if f.default is MISSING:  # `extra` is for embedding code, not a variable
            continue
        out.append(
            f"| `{f.name}` | `{ENV_PREFIX}RTM_{f.name.upper()}` | {_default_text(f.default)} "
            f"| {_cell(str(f.metadata.get('doc', '')))} |"
        )
    out += ["", "## Other variables", ""]
    for title, rows in OTHER_VARIABLES:
        out += [f"### {title}", "", "| Variable | Flag | Default | Meaning |", "| --- | --- | --- | --- |"]
        for name, flag, default, meaning in rows:
            out.append(f"| `{name}` | {f'`{flag}`' if flag else ''} | {default} | {_cell(meaning)} |")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
