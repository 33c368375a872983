"""Effective settings: flags > environment > TOML file > defaults, with errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.config import ConfigError, Settings, load_settings, masked


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hubbub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_with_nothing_set() -> None:
    s = load_settings(env={})
    assert s == Settings()
    assert s.port == 8080 and s.host == "127.0.0.1"
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert s.effective_database_url.endswith("/data/hubbub.db")


def test_precedence_flags_env_file_defaults(tmp_path: Path) -> None:
    config = write(tmp_path, 'port = 1111\nhost = "10.0.0.1"\nlog_level = "debug"\nmax_body_bytes = 4096\n')
    env = {"HUBBUB_PORT": "2222", "HUBBUB_HOST": "10.0.0.2"}
    s = load_settings({"port": 3333}, env=env, config_file=config)
    assert s.port == 3333  # flag beats env and file
    assert s.host == "10.0.0.2"  # env beats file
    assert s.log_level == "debug"  # file beats default
    assert s.max_body_bytes == 4096
    assert s.data_dir == Path("data")  # default
    assert load_settings(env=env, config_file=config).port == 2222
    assert load_settings(env={}, config_file=config).port == 1111
    assert load_settings(env={}).port == 8080


def test_unset_flags_and_empty_env_do_not_override(tmp_path: Path) -> None:
    config = write(tmp_path, "port = 1111\n")
    s = load_settings({"port": None, "host": None}, env={"HUBBUB_PORT": ""}, config_file=config)
    assert s.port == 1111 and s.host == "127.0.0.1"


def test_hubbub_table_and_top_level_keys(tmp_path: Path) -> None:
    table = write(tmp_path, '[hubbub]\nport = 4444\ndata_dir = "/srv/hubbub"\ncookie_secure = true\n')
    s = load_settings(env={}, config_file=table)
    assert (s.port, s.data_dir, s.cookie_secure) == (4444, Path("/srv/hubbub"), True)
    top = write(tmp_path, 'port = 5555\ndata_dir = "/srv/other"\ncookie_secure = true\n')
    s = load_settings(env={}, config_file=top)
    assert (s.port, s.data_dir, s.cookie_secure) == (5555, Path("/srv/other"), True)


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = write(tmp_path, "port = 6666\n")
    assert load_settings(env={"HUBBUB_CONFIG": str(config)}).port == 6666


def test_env_values_are_coerced() -> None:
    env = {
        "HUBBUB_PORT": "9090",
        "HUBBUB_TOKEN_LEEWAY_S": "2.5",
        "HUBBUB_COOKIE_SECURE": "yes",
        "HUBBUB_DATA_DIR": "/var/lib/hubbub",
        "HUBBUB_LOG_FORMAT": "json",
    }
    s = load_settings(env=env)
    assert s.port == 9090 and s.token_leeway_s == 2.5 and s.cookie_secure is True
    assert s.data_dir == Path("/var/lib/hubbub") and s.log_format == "json"
    assert load_settings(env={"HUBBUB_COOKIE_SECURE": "off"}).cookie_secure is False


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    config = write(tmp_path, "port = 8000\nprot = 9000\n")
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, config_file=config)
    assert "prot" in str(err.value) and str(config) in str(err.value)
    config = write(tmp_path, "[hubbub]\ndatabase = 'x'\n")
    with pytest.raises(ConfigError, match="database"):
        load_settings(env={}, config_file=config)


def test_unknown_flag_is_named() -> None:
    with pytest.raises(ConfigError, match="colour"):
        load_settings({"colour": "blue"}, env={})


def test_unreadable_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env={}, config_file=tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, config_file=write(tmp_path, "port = = 1\n"))


@pytest.mark.parametrize(
    ("source", "setting", "where"),
    [
        ("env", "HUBBUB_PORT=abc", "$HUBBUB_PORT"),
        ("env", "HUBBUB_MAX_BODY_BYTES=1.5", "$HUBBUB_MAX_BODY_BYTES"),
        ("env", "HUBBUB_COOKIE_SECURE=maybe", "$HUBBUB_COOKIE_SECURE"),
        ("env", "HUBBUB_TOKEN_LEEWAY_S=soon", "$HUBBUB_TOKEN_LEEWAY_S"),
        ("file", 'port = "abc"', "config file"),
        ("file", "port = true", "config file"),
        ("file", "cookie_secure = 3", "config file"),
        ("flag", "port=abc", "command line"),
    ],
)
def test_bad_values_name_setting_and_source(tmp_path: Path, source: str, setting: str, where: str) -> None:
    name = setting.split("=", 1)[0].strip().removeprefix("HUBBUB_").lower()
    with pytest.raises(ConfigError) as err:
        if source == "env":
            key, value = setting.split("=", 1)
            load_settings(env={key: value})
        elif source == "file":
            load_settings(env={}, config_file=write(tmp_path, setting + "\n"))
        else:
            load_settings({name: setting.split("=", 1)[1]}, env={})
    message = str(err.value)
    assert name in message
    assert where in message


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"HUBBUB_PORT": "70000"}, "port"),
        ({"HUBBUB_PORT": "-1"}, "port"),
        ({"HUBBUB_RTC_UDP_PORT": "65536"}, "rtc_udp_port"),
        ({"HUBBUB_MAX_BODY_BYTES": "10"}, "max_body_bytes"),
        ({"HUBBUB_LOG_FORMAT": "xml"}, "log_format"),
        ({"HUBBUB_LOG_LEVEL": "loud"}, "log_level"),
        ({"HUBBUB_DATABASE_URL": "mysql://x/y"}, "database_url"),
    ],
)
def test_out_of_range_values_name_setting_and_source(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert setting in str(err.value)
    assert next(iter(env)) in str(err.value)  # e.g. $HUBBUB_PORT


def test_port_out_of_range_from_file_or_flag_names_the_source(tmp_path: Path) -> None:
    config = write(tmp_path, "port = 70000\n")
    with pytest.raises(ConfigError) as err:
        load_settings(env={}, config_file=config)
    assert "port" in str(err.value) and "70000" in str(err.value)
    assert str(config) in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_settings({"port": 70000}, env={"HUBBUB_PORT": "80"}, config_file=config)
    assert "port" in str(err.value) and "command line" in str(err.value)
    # a good flag over a bad file value is fine: only the effective value is checked
    assert load_settings({"port": 8000}, env={}, config_file=config).port == 8000


def test_masked_hides_secrets() -> None:
    s = Settings(secret_key="super-secret-key-material", database_url="postgresql+asyncpg://app:hunter2@db:5432/hub")
    shown = masked(s)
    text = repr(shown)
    assert "super-secret-key-material" not in text
    assert "hunter2" not in text
    assert shown["secret_key"] == "****"
    assert shown["database_url"] == "postgresql+asyncpg://app:****@db:5432/hub"
    assert shown["port"] == 8080 and shown["data_dir"] == "data"
    assert set(shown) == {f for f in Settings.__dataclass_fields__}


def test_masked_password_with_at_sign_and_no_password() -> None:
    shown = masked(Settings(database_url="postgresql+asyncpg://app:p%40ss@word@db/hub"))
    assert shown["database_url"] == "postgresql+asyncpg://app:****@db/hub"
    plain = masked(Settings(database_url="postgresql+asyncpg://db.internal/hub"))
    assert plain["database_url"] == "postgresql+asyncpg://db.internal/hub"


def test_masked_defaults_say_where_the_key_lives() -> None:
    shown = masked(Settings())
    assert shown["secret_key"] == "(generated in data_dir)"
    assert shown["database_url"].startswith("sqlite+aiosqlite:///")
