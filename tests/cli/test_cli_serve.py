"""``hubbub --version``, ``hubbub config show`` and ``hubbub serve`` as real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue

import httpx
import pytest

from hubbub import __version__
from hubbub.control.tokens import AppKeys, verify_token

BIN = Path(sys.executable).parent / "hubbub"
HUBBUB = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "hubbub"]
PASSWORD = "correct horse battery staple"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any HUBBUB_* setting of the machine running the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUBBUB, *args], capture_output=True, text=True, timeout=60, env=env or clean_env(), cwd=cwd)


# --- one-shot commands -------------------------------------------------------------------------


def test_version() -> None:
    r = run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"hubbub {__version__}"


def test_version_via_python_m() -> None:
    r = subprocess.run([sys.executable, "-m", "hubbub", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"hubbub {__version__}"


def test_serve_help_lists_its_flags() -> None:
    r = run("serve", "--help")
    assert r.returncode == 0, r.stderr
    for flag in ("--host", "--port", "--data-dir", "--database-url", "--config", "--log-level"):
        assert flag in r.stdout


def test_no_command_prints_help_and_fails() -> None:
    r = run()
    assert r.returncode == 2
    assert "serve" in r.stdout


def test_config_show_prints_masked_json(tmp_path: Path) -> None:
    env = clean_env(
        HUBBUB_PORT="9123",
        HUBBUB_SECRET_KEY="very-secret-key-material",
        HUBBUB_DATABASE_URL="postgresql+asyncpg://hub:s3cr3t-pw@db.internal:5432/hubbub",
    )
    r = run("config", "show", "--data-dir", str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["port"] == 9123
    assert shown["data_dir"] == str(tmp_path)
    assert shown["secret_key"] == "****"
    assert shown["database_url"] == "postgresql+asyncpg://hub:****@db.internal:5432/hubbub"
    assert "very-secret-key-material" not in r.stdout and "s3cr3t-pw" not in r.stdout
    # a flag beats the environment
    assert json.loads(run("config", "show", "--port", "9124", env=env).stdout)["port"] == 9124


def test_config_show_reads_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "hubbub.toml"
    config.write_text('[hubbub]\nport = 7001\nlog_format = "json"\n', encoding="utf-8")
    r = run("config", "show", "--config", str(config))
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["port"] == 7001 and shown["log_format"] == "json"
    r = run("config", "show", env=clean_env(HUBBUB_CONFIG=str(config)))
    assert json.loads(r.stdout)["port"] == 7001


def test_config_show_bad_value_is_a_clear_error() -> None:
    r = run("config", "show", env=clean_env(HUBBUB_PORT="abc"))
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("hubbub: ")
    assert "port" in r.stderr and "$HUBBUB_PORT" in r.stderr
    assert "Traceback" not in r.stderr


# --- a real server -----------------------------------------------------------------------------


class Server:
    def __init__(self, proc: subprocess.Popen[str], lines: Queue[str | None], stderr: Path) -> None:
        self.proc = proc
        self.lines = lines
        self.stderr = stderr
        self.banner: list[str] = []
        self.url = ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except Empty:
                continue
            if line is None:
                raise AssertionError(f"server exited ({self.proc.wait()}): {self.stderr.read_text()}")
            self.banner.append(line)
            if "is ready" in line:
                break
        else:
            raise AssertionError(f"no ready banner in {timeout} s: {self.stderr.read_text()}")
        # the banner's other lines follow at once
        while not self.banner[-1].lstrip().startswith("Data dir"):  # the banner's last line
            line = self.lines.get(timeout=5)
            assert line is not None
            self.banner.append(line)
        rest = next(line for line in self.banner if "REST API" in line)
        match = re.search(r"(http://\S+)/api/v1\s*$", rest)
        assert match, self.banner
        self.url = match.group(1)

    def stop(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@contextmanager
def serving(tmp_path: Path, data_dir: Path, *extra: str) -> Iterator[Server]:
    stderr = tmp_path / f"stderr-{time.monotonic_ns()}.log"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hubbub", "serve", "--port", "0", "--data-dir", str(data_dir), *extra],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
        )
    lines: Queue[str | None] = Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    server = Server(proc, lines, stderr)
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_answers_over_tcp_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(tmp_path, data) as server:
        server.wait_ready()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url), server.url
        port = int(server.url.rsplit(":", 1)[1])
        assert port != 0
        banner = "\n".join(server.banner)
        assert f"Hubbub {__version__} is ready" in banner
        assert f"{server.url}/docs" in banner
        assert str((data / "hubbub.db").resolve()) in banner
        with httpx.Client(base_url=server.url, timeout=5) as http:
            r = http.get("/healthz")
            assert r.status_code == 200 and r.json() == {"status": "ok", "version": __version__}
            r = http.get("/readyz")
            assert r.status_code == 200 and r.json()["database"] == "sqlite"
            assert r.headers["x-request-id"]
            assert "server" not in r.headers
        started = time.monotonic()
        assert server.stop(timeout=10) == 0, server.stderr.read_text()
        assert time.monotonic() - started < 10
    assert (data / "hubbub.db").exists()
    assert (data / "secret.key").exists()
    assert (data / "secret.key").stat().st_mode & 0o077 == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=2)


def test_second_start_reuses_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(tmp_path, data) as first:
        first.wait_ready()
        with httpx.Client(base_url=f"{first.url}/api/v1", timeout=10) as http:
            r = http.post("/auth/signup", json={"email": "persist@example.com", "password": PASSWORD})
            assert r.status_code == 201, r.text
            csrf = http.post("/auth/login", json={"email": "persist@example.com", "password": PASSWORD}).json()
            r = http.post("/projects", json={"name": "Survives restarts"}, headers={"X-CSRF-Token": csrf["csrf_token"]})
            assert r.status_code == 201, r.text
            project = r.json()
        assert first.stop() == 0
    key = (data / "secret.key").read_text()

    with serving(tmp_path, data) as second:
        second.wait_ready()
        with httpx.Client(base_url=f"{second.url}/api/v1", timeout=10) as http:
            r = http.post("/auth/login", json={"email": "persist@example.com", "password": PASSWORD})
            assert r.status_code == 200, r.text
            http.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            assert [p["name"] for p in http.get("/projects").json()] == ["Survives restarts"]
            # the App Certificate, encrypted with the persisted key, is still usable
            r = http.post(f"/projects/{project['app_id']}/tokens", json={"user_id": "alice"})
            assert r.status_code == 201, r.text
            keys = AppKeys(project["app_id"], project["app_certificate"])
            verify_token(r.json()["token"], lookup=lambda _a: keys, now=time.time())
        assert second.stop() == 0
    assert (data / "secret.key").read_text() == key


def test_port_in_use_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "hubbub", "serve", "--port", str(port), "--data-dir", str(tmp_path / "d")],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            cwd=tmp_path,
        )
    assert r.returncode == 2, (r.returncode, r.stderr)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("hubbub: ")
    assert str(port) in last
    assert "in use" in last.lower()
    assert "Traceback" not in r.stderr
    assert "is ready" not in r.stdout


def serve_until_exit(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``hubbub serve ARGS`` that is expected to stop on its own (it cannot listen)."""
    return subprocess.run(
        [sys.executable, "-m", "hubbub", "serve", "--data-dir", str(tmp_path / "second"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
        cwd=tmp_path,
    )


def last_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "is ready" not in r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("hubbub: ")
    return last


def test_second_server_names_the_media_port_in_use_and_the_flags_move_it(tmp_path: Path) -> None:
    """A second server on another --port collides on the media ports (UDP 7881, ICE-TCP 7882 by
    default): the error names that port and the setting, flag and variable that move it."""
    with serving(tmp_path, tmp_path / "data") as first:
        first.wait_ready()
        media = next(line for line in first.banner if "Media" in line)
        assert "UDP 127.0.0.1:7881" in media and "ICE-TCP 127.0.0.1:7882" in media, media

        last = last_error_line(serve_until_exit(tmp_path, "--port", "0"))
        assert "media UDP port 7881" in last and "in use" in last, last
        assert "setting rtc_udp_port" in last and "--rtc-udp-port" in last and "HUBBUB_RTC_UDP_PORT" in last, last

        last = last_error_line(serve_until_exit(tmp_path, "--port", "0", "--rtc-udp-port", "0"))
        assert "ICE-TCP port 7882" in last and "in use" in last, last
        assert "setting rtc_tcp_port" in last and "--rtc-tcp-port" in last and "HUBBUB_RTC_TCP_PORT" in last, last

        http_port = first.url.rsplit(":", 1)[1]
        last = last_error_line(
            serve_until_exit(tmp_path, "--port", http_port, "--rtc-udp-port", "0", "--rtc-tcp-port", "0")
        )
        assert f"HTTP port {http_port}" in last and "in use" in last, last
        assert "setting port" in last and "--port" in last and "HUBBUB_PORT" in last, last

        with serving(tmp_path, tmp_path / "other", "--rtc-udp-port", "0", "--rtc-tcp-port", "0") as second:
            second.wait_ready()
            media = next(line for line in second.banner if "Media" in line)
            assert "7881" not in media and "7882" not in media, media
            assert httpx.get(f"{second.url}/healthz", timeout=5).status_code == 200
            assert second.stop() == 0
        assert first.stop() == 0


def test_media_flags_reach_the_settings(tmp_path: Path) -> None:
    r = run(
        "config",
        "show",
        "--rtc-host",
        "127.0.0.2",
        "--rtc-udp-port",
        "17881",
        "--rtc-tcp-port",
        "17882",
        "--announced-ip",
        "203.0.113.7",
        env=clean_env(HUBBUB_RTC_UDP_PORT="9"),
    )
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert (shown["rtc_host"], shown["rtc_udp_port"], shown["rtc_tcp_port"]) == ("127.0.0.2", 17881, 17882)
    assert shown["announced_ip"] == "203.0.113.7"
    assert json.loads(run("config", "show", env=clean_env(HUBBUB_RTC_UDP_PORT="9")).stdout)["rtc_udp_port"] == 9
    r = run("serve", "--help")
    for flag in ("--rtc-host", "--rtc-udp-port", "--rtc-tcp-port", "--announced-ip"):
        assert flag in r.stdout
