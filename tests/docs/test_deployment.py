"""The reverse-proxy examples of docs/deployment.md, run for real in front of a live server.

deploy/nginx.conf and deploy/Caddyfile are started as they are, with only the names a real host
would change (ports, certificate paths, the domain) replaced, behind a self-signed certificate.
Through them: HTTPS to the REST API, wss to /rtc/v1 and /rtm/v1, and a call whose audio goes
straight to the media UDP port, not through the proxy. A proxy that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from av import AudioFrame
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hubbub.config import Settings
from hubbub.control.context import UserPrincipal
from hubbub.sdk import ToneTrack, connect, detect_tone
from hubbub.sdk.messaging import connect_rtm
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, serving

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOC = ROOT / "docs" / "deployment.md"


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
    )
    if found is None:
        pytest.skip(f"{name} is not installed (scripts/test.sh installs it)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _replace(text: str, old: str, new: str) -> str:
    """Replace one line of the example; fails if the example no longer has it (so the test follows the file)."""
    assert text.count(old) == 1, f"the example should contain {old!r} exactly once"
    return text.replace(old, new)


@dataclass
class Tls:
    cert: Path
    key: Path


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    """A self-signed certificate for 127.0.0.1 and localhost; clients trust it through SSL_CERT_FILE."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hubbub test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    tls = Tls(tmp_path / "cert.pem", tmp_path / "key.pem")
    tls.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tls


@dataclass
class Live:
    platform: Platform
    http_port: int
    app_id: str
    certificate: str

    def token(self, user: str, channel: str = "room1") -> str:
        return build_token(self.app_id, self.certificate, user_id=user, channel=channel)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    settings = Settings(data_dir=tmp_path / "data", port=0, rtc_udp_port=0, rtc_tcp_port=0)
    platform = await Platform.start(settings)
    try:
        async with serving(platform) as url:
            svc = platform.services
            user = await svc.accounts.sign_up("ops@example.com", "correct horse battery")
            project, certificate = await svc.projects.create(UserPrincipal(user.id), "deploy")
            yield Live(platform, int(url.rsplit(":", 1)[1]), project.app_id, certificate)
    finally:
        await platform.close()


@contextlib.contextmanager
def _running(argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(200):  # up to 10 s for the proxy to listen
            if proc.poll() is not None:
                pytest.fail(f"{argv[0]} exited {proc.returncode}:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"{argv[0]} did not listen on {port}:\n{log.read_text(errors='replace')}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _through_the_proxy(base: str, live: Live, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a client does through the proxy: HTTPS, a call over wss (media direct), messaging over wss."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))  # the SDK's WebSocket clients use the default context
    verify = ssl.create_default_context(cafile=str(tls.cert))
    async with httpx.AsyncClient(verify=verify) as http:
        health = await http.get(f"{base}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        console = await http.get(f"{base}/console/")
        assert console.status_code == 200 and "<html" in console.text.lower()
        assert (await http.get(f"{base}/metrics")).status_code == 404  # kept off the Internet
        assert (await http.get(f"http://127.0.0.1:{live.http_port}/metrics")).status_code == 200

    udp_before = live.platform.transport.stats["datagrams_in"]
    alice = await connect(base, live.token("alice"))
    bob = await connect(base, live.token("bob"))
    try:
        await alice.publish(ToneTrack(440))
        audio = await bob.wait_for_track("alice", kind="audio", timeout=15)
        frames = [await asyncio.wait_for(audio.recv(), 5) for _ in range(50)]
        assert all(isinstance(f, AudioFrame) for f in frames)
        heard = detect_tone([f for f in frames if isinstance(f, AudioFrame)], 440)
        assert heard > 0.5
    finally:
        await alice.disconnect()
        await bob.disconnect()
    # the media reached the server's own UDP port: nothing of it went through the proxy
    assert live.platform.transport.stats["datagrams_in"] - udp_before > 50

    rtm = await connect_rtm(base, live.token("carol", channel="*"))
    try:
        subscribed = await rtm.subscribe("lobby")
        assert subscribed.channel == "lobby"
    finally:
        await rtm.close()


async def test_nginx_example_proxies_https_and_websockets(
    live: Live, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nginx = _tool("nginx")
    https_port, http_port = _free_port(), _free_port()
    site = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    site = _replace(site, "server 127.0.0.1:8080;", f"server 127.0.0.1:{live.http_port};")
    site = _replace(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = _replace(site, "/etc/letsencrypt/live/rtc.example.com/fullchain.pem", str(tls.cert))
    site = _replace(site, "/etc/letsencrypt/live/rtc.example.com/privkey.pem", str(tls.key))
    (tmp_path / "hubbub.conf").write_text(site, encoding="utf-8")
    temp = tmp_path / "nginx-temp"
    temp.mkdir()
    # The main file of a distribution's nginx, reduced to what a test needs (no root paths, one process).
    main = f"""
daemon off;
master_process off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp_path}/nginx-access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {tmp_path}/hubbub.conf;
}}
"""
    (tmp_path / "nginx-main.conf").write_text(main, encoding="utf-8")
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx-main.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    argv = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx-main.conf")]
    with _running(argv, https_port, tmp_path / "nginx.out"):
        async with httpx.AsyncClient() as http:  # plain HTTP is sent to HTTPS
            redirect = await http.get(f"http://127.0.0.1:{http_port}/console/")
        assert redirect.status_code == 301
        assert redirect.headers["location"] == "https://127.0.0.1/console/"
        await _through_the_proxy(f"https://127.0.0.1:{https_port}", live, tls, monkeypatch)
    access = (tmp_path / "nginx-access.log").read_text()
    assert re.search(r'"GET /rtc/v1 HTTP/1.1" 101 ', access), access  # the signaling upgrade went through nginx
    assert re.search(r'"GET /rtm/v1 HTTP/1.1" 101 ', access), access


async def test_caddy_example_proxies_https_and_websockets(
    live: Live, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    caddy = _tool("caddy")
    https_port = _free_port()
    site = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    site = _replace(site, "reverse_proxy 127.0.0.1:8080", f"reverse_proxy 127.0.0.1:{live.http_port}")
    # The domain becomes this address with the test's certificate instead of one from an ACME CA.
    site = _replace(site, "rtc.example.com {", f"https://127.0.0.1:{https_port} {{\n\ttls {tls.cert} {tls.key}")
    options = "{\n\tadmin off\n\tauto_https disable_redirects\n}\n"
    (tmp_path / "Caddyfile").write_text(options + site, encoding="utf-8")
    home = tmp_path / "caddy-home"
    env = dict(os.environ, HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"))
    argv = [caddy, "run", "--adapter", "caddyfile", "--config", str(tmp_path / "Caddyfile")]
    with _running(argv, https_port, tmp_path / "caddy.out", env=env):
        await _through_the_proxy(f"https://127.0.0.1:{https_port}", live, tls, monkeypatch)


@pytest.mark.parametrize("name", ["nginx.conf", "Caddyfile", "Dockerfile", "hubbub.service", "backup.sh"])
def test_the_guide_shows_each_deploy_file_verbatim(name: str) -> None:
    """docs/deployment.md quotes deploy/<name> whole, so the tested file and the documented one are one."""
    body = (DEPLOY / name).read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert body in blocks, f"docs/deployment.md should quote deploy/{name} as it is, in one code block"


def test_systemd_unit_is_valid() -> None:
    analyze = _tool("systemd-analyze")
    unit = (DEPLOY / "hubbub.service").read_text(encoding="utf-8")
    hubbub = Path(sys.executable).parent / "hubbub"
    unit = _replace(unit, "ExecStart=/opt/hubbub/.venv/bin/hubbub serve", f"ExecStart={hubbub} serve")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hubbub.service"
        path.write_text(unit, encoding="utf-8")
        r = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if "hubbub.service" in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


async def test_backup_script_restores_a_working_server(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """deploy/backup.sh on a running server, then a new server on the copy: projects and secrets are back."""
    platform = await Platform.start(settings)
    try:
        svc = platform.services
        user = await svc.accounts.sign_up("ops@example.com", "correct horse battery")
        project, certificate = await svc.projects.create(UserPrincipal(user.id), "kept")
        env = dict(os.environ, HUBBUB_DATABASE_URL=settings.database_url)
        r = await asyncio.to_thread(
            subprocess.run,
            ["bash", str(DEPLOY / "backup.sh"), str(settings.data_dir), str(tmp_path / "backups")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )  # while the server runs
        assert r.returncode == 0, r.stderr
    finally:
        await platform.close()
    backup = Path(r.stdout.strip().splitlines()[-1])
    assert (backup / "secret.key").exists() and (backup / "dtls-certificate.pem").exists()

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    for name in ("secret.key", "dtls-certificate.pem"):
        shutil.copy2(backup / name, restored_dir / name)
    if settings.database_url.startswith("postgresql"):
        server = request.getfixturevalue("postgres")
        url = await asyncio.to_thread(server.new_database)
        restore = [_tool("pg_restore"), "--no-owner", "-d", url.replace("+asyncpg", ""), str(backup / "hubbub.pgdump")]
        done = await asyncio.to_thread(subprocess.run, restore, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    else:
        shutil.copy2(backup / "hubbub.db", restored_dir / "hubbub.db")
        url = ""
    again = await Platform.start(Settings(data_dir=restored_dir, database_url=url, rtc_udp_port=0, rtc_tcp_port=0))
    try:
        keys = await again.services.projects.app_keys(project.app_id)
        assert keys is not None and keys.certificate == certificate  # decrypted with the restored secret.key
    finally:
        await again.close()


@pytest.mark.parametrize("announced", ["203.0.113.10", ""])
async def test_announced_ip_is_the_one_address_clients_are_told(announced: str, tmp_path: Path) -> None:
    """The NAT section: with announced_ip, the candidates carry it alone (UDP and ICE-TCP) on the
    listening ports; without it, rtc_host 0.0.0.0 offers every IPv4 address of the host, loopback last."""
    settings = Settings(data_dir=tmp_path, rtc_host="0.0.0.0", rtc_udp_port=0, rtc_tcp_port=0, announced_ip=announced)
    platform = await Platform.start(settings)
    try:
        transport = platform.transport
        assert transport.udp_address is not None and transport.tcp_address is not None
        candidates = transport.local_candidates()
        ports = {"udp": transport.udp_address[1], "tcp": transport.tcp_address[1]}
        assert {c.transport for c in candidates} == {"udp", "tcp"}
        assert all(c.port == ports[c.transport] for c in candidates)
        udp = [c.ip for c in sorted(candidates, key=lambda c: -c.priority) if c.transport == "udp"]
        if announced:
            assert {c.ip for c in candidates} == {announced}
        else:
            assert udp[-1] == "127.0.0.1" and udp == [c.ip for c in candidates if c.transport == "udp"]
    finally:
        await platform.close()


def test_the_guide_names_only_real_settings_and_flags() -> None:
    """Every HUBBUB_* variable the guides name is in the settings reference; every flag of the guide's
    `hubbub serve` command is one that `hubbub serve` accepts."""
    from hubbub.cli import build_parser

    reference = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for doc in (DOC, ROOT / "docs" / "troubleshooting.md"):
        for name in set(re.findall(r"HUBBUB_[A-Z0-9_]+", doc.read_text(encoding="utf-8"))):
            assert f"`{name}`" in reference, f"{doc.name} names {name}, which docs/settings.md does not list"
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {o for action in commands.choices["serve"]._actions for o in action.option_strings}
    command = re.search(r"```sh\n(hubbub serve .*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert command is not None
    flags = re.findall(r"(--[a-z-]+)", command.group(1))
    assert "--announced-ip" in flags and set(flags) <= options, set(flags) - options
