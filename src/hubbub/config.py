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
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

ENV_PREFIX = "HUBBUB_"
SECRET_FIELDS = frozenset({"secret_key", "database_url", "turn_secret"})
ICE_URL_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
_T = TypeVar("_T")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


def _setting(default: _T, doc: str) -> _T:
    """A field of :class:`Settings` with its meaning (``metadata["doc"]``), for ``docs/settings.md``."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = _setting(
        "127.0.0.1",
        "Address the HTTP server (REST API, console, demos, signaling and messaging WebSockets) listens on. "
        "`0.0.0.0` listens on every IPv4 interface; behind a reverse proxy on the same host keep `127.0.0.1`.",
    )
    port: int = _setting(8080, "HTTP port. `0` picks a free one; the ready banner prints it.")
    data_dir: Path = field(  # Path is immutable; a plain field keeps RUF009 quiet
        default=Path("data"),
        metadata={
            "doc": "Directory for the SQLite database (`hubbub.db`), the generated secret key (`secret.key`), "
            "the media DTLS certificate (`dtls-certificate.pem`) and message attachments (`attachments/`). "
            "Created if missing."
        },
    )
    database_url: str = _setting(
        "",
        "Database URL: `postgresql+asyncpg://user:password@host:5432/db` for PostgreSQL, or "
        "`sqlite+aiosqlite:///path/file.db`. Empty: the SQLite file `hubbub.db` in `data_dir`. Migrations "
        "run at start. Masked by `hubbub config show`.",
    )
    secret_key: str = _setting(
        "",
        "Key that encrypts the App Certificates and other secrets stored in the database. Empty: generated once "
        "into `data_dir/secret.key`. Keep it (and back it up) with the database: without it stored certificates "
        "cannot be decrypted.",
    )
    public_url: str = _setting(
        "",
        "The server's public base URL, e.g. `https://rtc.example.com`, when it differs from `http://host:port` "
        "(behind a reverse proxy): printed in the ready banner. Empty: derived from `host` and `port`.",
    )
    log_level: str = _setting("info", "Lowest log level written: `debug`, `info`, `warning` or `error`.")
    log_format: str = _setting(
        "auto",
        "Log line format on stderr: `json` (one object per line), `pretty`, or `auto` (pretty on a terminal, "
        "JSON otherwise).",
    )
    max_body_bytes: int = _setting(
        1_048_576,
        "Largest HTTP request body accepted, in bytes (at least 1024); larger ones get `413`. It bounds "
        "attachment uploads too: raise it to match `HUBBUB_RTM_ATTACHMENT_MAX_BYTES` to accept larger files.",
    )
    token_leeway_s: float = _setting(
        5.0, "Clock skew allowed when checking a token's `nbf` and `exp` and a privilege's expiry, in seconds."
    )
    certificate_grace_s: float = _setting(
        86_400.0,
        "After an App Certificate is rotated, how long the old one still verifies tokens, in seconds (default "
        "one day; a rotation request may give its own, up to 30 days).",
    )
    session_ttl_s: float = _setting(7 * 86_400.0, "How long a console sign-in lasts, in seconds (default 7 days).")
    login_attempts_per_minute: int = _setting(
        10,
        "Console sign-in attempts allowed per e-mail address per minute (five times as many per client IP) "
        "before `429`.",
    )
    cookie_secure: bool = _setting(
        False,
        "Mark the console session cookie `Secure` (sent over HTTPS only). Turn it on when the console is "
        "served over HTTPS, e.g. behind a TLS reverse proxy.",
    )
    # Media plane (used by the SFU): one UDP port and one ICE-TCP port for every peer.
    rtc_host: str = _setting(
        "",
        "Address the media ports (UDP and ICE-TCP) listen on. Empty: the same as `host`, so a server on "
        "`127.0.0.1` behind a proxy needs `0.0.0.0` here. With `0.0.0.0` every IPv4 address of the host "
        "(loopback last) is offered to clients as a candidate, unless `announced_ip` is set.",
    )
    rtc_udp_port: int = _setting(
        7881,
        "The one UDP port every peer's media (ICE, DTLS, SRTP) uses. Open it in the firewall; a reverse proxy "
        "does not carry it. `0` picks a free one.",
    )
    rtc_tcp_port: int = _setting(
        7882,
        "ICE-TCP port, for clients whose UDP is blocked (RFC 6544, passive). Open it in the firewall too. `0` "
        "picks a free one.",
    )
    announced_ip: str = _setting(
        "",
        "The public address put in the server's ICE candidates when it sits behind NAT (a cloud VM's public IP, "
        "a router's port forward): the only address clients are told. Empty: the `rtc_host` address, or every "
        "local IPv4 address when it is `0.0.0.0`.",
    )
    ice_servers: str = _setting(
        "",
        "STUN and TURN servers that `joined` gives every client to use, as comma-separated URLs (RFC 7064, "
        "RFC 7065), e.g. `stun:stun.example.com:3478,turns:turn.example.com:443?transport=tcp`. TURN URLs need "
        "`turn_secret`. Empty: none (`ice_servers` is `[]`; clients may pass their own).",
    )
    turn_secret: str = _setting(
        "",
        "Shared secret of the TURN server in `ice_servers` (coturn's `use-auth-secret` with "
        "`static-auth-secret`): each `joined` carries a username `<expiry>:<user id>` and its HMAC-SHA1 "
        "credential, valid for 24 hours. Masked by `hubbub config show`.",
    )
    reconnect_window_s: float = _setting(
        10.0,
        "How long a participant whose signaling or media dropped stays in the room, tracks kept, so that its "
        "client can resume; after it the others get `participant_left` (`connection_lost`). In seconds.",
    )
    native_fanout: bool = _setting(
        True,
        "Send and fan out media with the C sender (`hubbub.transport.native`, built when the package is "
        "installed if gcc and libsrtp2 are there). Pure Python when it was not built; `false` never uses it.",
    )

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

    @property
    def ice_server_urls(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in self.ice_servers.split(",") if u.strip())


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
    for url in s.ice_server_urls:
        if not url.startswith(ICE_URL_SCHEMES):
            raise bad("ice_servers", f"{url!r} is not a stun:, stuns:, turn: or turns: URL")
        if url.startswith(("turn:", "turns:")) and not s.turn_secret:
            raise bad("ice_servers", "TURN URLs need turn_secret (the TURN server's static-auth-secret)")


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
            value = "****" if value else ("(generated in data_dir)" if f.name == "secret_key" else "")
        elif isinstance(value, Path):
            value = str(value)
        out[f.name] = value
    return out


def replace(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)


__all__ = ["ConfigError", "Settings", "load_settings", "masked", "replace"]
