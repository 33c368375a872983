"""Effective configuration: CLI flags > environment (``HUBBUB_*``) > TOML file > defaults.

Every setting is a field of :class:`Settings`. Its environment variable is ``HUBBUB_`` plus the
field name in upper case (``HUBBUB_DATA_DIR``); in the TOML file it is the field name itself, at
top level or under a ``[hubbub]`` table. Secret fields are masked by :func:`masked`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "HUBBUB_"
SECRET_FIELDS = frozenset({"secret_key", "database_url"})


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file in data_dir
    secret_key: str = ""  # empty: generated once into data_dir/secret.key
    public_url: str = ""  # what clients are told; empty: derived from host/port
    log_level: str = "info"
    log_format: str = "auto"  # auto | json | pretty
    max_body_bytes: int = 1_048_576
    token_leeway_s: float = 5.0
    certificate_grace_s: float = 86_400.0
    session_ttl_s: float = 7 * 86_400.0
    login_attempts_per_minute: int = 10
    cookie_secure: bool = False
    # Media plane (used by the SFU): one UDP port and one ICE-TCP port for every peer.
    rtc_host: str = ""  # media listen address; empty: same as host
    rtc_udp_port: int = 7881
    rtc_tcp_port: int = 7882
    announced_ip: str = ""  # public address to put in candidates when behind NAT
    reconnect_window_s: float = 10.0  # how long a dropped participant may resume
    native_fanout: bool = True  # forward media with the C helper (built on first start) when possible

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'hubbub.db').resolve()}"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


def _coerce(name: str, value: Any, source: str) -> Any:
    target = _field_types()[name]
    if isinstance(target, types.UnionType):  # pragma: no cover - no optional fields yet
        target = next(t for t in typing.get_args(target) if t is not type(None))
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if target is int:
            if isinstance(value, bool):
                raise ValueError("expected an integer")
            return int(value)
        if target is float:
            return float(value)
        if target is Path:
            return Path(str(value)).expanduser()
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} from {source}: {value!r} is not a valid {target.__name__} ({exc})") from None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build settings from the four sources, highest precedence first: overrides, env, file, defaults.

    ``overrides`` holds CLI flags; ``None`` values mean "not given". The TOML file is
    ``config_file``, else ``$HUBBUB_CONFIG``, else none.
    """
    env = os.environ if env is None else env
    names = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}

    path = config_file or (Path(env["HUBBUB_CONFIG"]) if env.get("HUBBUB_CONFIG") else None)
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        table = document.get("hubbub", document)
        for key, value in table.items():
            if isinstance(value, dict) and key == "hubbub":
                continue
            if key not in names:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _coerce(key, value, f"config file {path}")
            sources[key] = f"config file {path}"

    for name in names:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw, f"${ENV_PREFIX}{name.upper()}")
            sources[name] = f"${ENV_PREFIX}{name.upper()}"

    for name, value in (overrides or {}).items():
        if value is None:
            continue
        if name not in names:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, "the command line")
        sources[name] = "the command line"

    settings = Settings(**values)
    _validate(settings, sources)
    return settings


def _validate(s: Settings, sources: Mapping[str, str]) -> None:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"{name} from {sources.get(name, 'the defaults')}: {why}")

    for name in ("port", "rtc_udp_port", "rtc_tcp_port"):
        port = getattr(s, name)
        if not 0 <= port <= 65535:
            raise bad(name, f"must be between 0 and 65535, not {port}")
    if s.max_body_bytes < 1024:
        raise bad("max_body_bytes", f"must be at least 1024, not {s.max_body_bytes}")
    if s.log_format not in ("auto", "json", "pretty"):
        raise bad("log_format", f"must be auto, json or pretty, not {s.log_format!r}")
    if s.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise bad("log_level", f"must be debug, info, warning or error, not {s.log_level!r}")
    if s.database_url and not s.database_url.startswith(("sqlite", "postgresql")):
        raise bad("database_url", "must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")


def _mask_url(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:****@{host}"


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as a plain dict with secrets masked, for ``hubbub config show``."""
    out: dict[str, Any] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name == "database_url":
            value = _mask_url(settings.effective_database_url)
        elif f.name in SECRET_FIELDS:
            value = "****" if value else "(generated in data_dir)"
        elif isinstance(value, Path):
            value = str(value)
        out[f.name] = value
    return out


def replace(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)


__all__ = ["ConfigError", "Settings", "load_settings", "masked", "replace"]
