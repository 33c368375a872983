"""Every code example in README.md and docs/*.md is a file under docs/examples/ that runs here.

Two halves. Each fenced block of the docs is either a contiguous part of an example file (the
same lines, byte for byte, after taking away the indentation they have in the file: a snippet
shown at the top level may sit inside a function there) or is marked as not runnable by a
``<!-- not-an-example: why -->`` line just before it (an output sample, a diagram, a command
that installs the machine). And each example file runs against a live server, reading the
server's URL and the credentials from the variables the docs name (``HUBBUB_URL``, defaulting
to the README's ``http://127.0.0.1:8080``, ``HUBBUB_APP_ID``, ...), and does what the docs say.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from av import VideoFrame
from starlette.staticfiles import StaticFiles

from hubbub.agents.config import parse_config
from hubbub.config import Settings, load_settings
from hubbub.control.context import UserPrincipal
from hubbub.control.tokens import AppKeys, VerifiedToken, verify_token
from hubbub.schema.tokens import Privilege
from hubbub.sdk.token import build_token
from hubbub.server.platform import Platform, serving

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!--\s*not-an-example\b.*-->\s*$")
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")


# --- every block is an example or says why not -----------------------------------------------


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    info: str
    lines: tuple[str, ...]
    marked: bool

    def __str__(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line} ({self.info or 'no language'})"


def blocks_of(doc: Path) -> list[Block]:
    found: list[Block] = []
    lines = doc.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.groups()
        j = i + 1
        while j < len(lines) and not re.match(rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[j]):
            j += 1
        body = tuple(line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : j])
        before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        found.append(Block(doc, i + 1, info.strip(), body, bool(MARKER.match(before))))
        i = j + 1
    return found


def example_lines() -> dict[Path, list[str]]:
    return {
        path: path.read_text(encoding="utf-8").split("\n")
        for path in sorted(EXAMPLES.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def is_part_of(block: tuple[str, ...], lines: list[str]) -> bool:
    """``block`` equals ``lines[k:k+n]`` once the lines' common indentation there is taken away."""
    n = len(block)
    for k in range(len(lines) - n + 1):
        window = lines[k : k + n]
        first = window[0]
        indent = first[: len(first) - len(first.lstrip(" "))]
        if first[len(indent) :] != block[0]:
            continue
        if all(
            (w.startswith(indent) and w[len(indent) :] == b) or (not b and not w.strip())
            for w, b in zip(window, block, strict=True)
        ):
            return True
    return False


def test_every_code_block_is_an_example_or_marked() -> None:
    examples = example_lines()
    assert examples, "docs/examples/ is empty"
    blocks = [b for doc in DOCS for b in blocks_of(doc)]
    assert len(blocks) > 20, [str(b) for b in blocks]
    loose = [
        str(b)
        for b in blocks
        if not b.marked and not any(is_part_of(b.lines, lines) for lines in examples.values() if b.lines)
    ]
    assert not loose, (
        "these code blocks are neither a part of a file in docs/examples/ (tested by tests/docs/test_examples.py)"
        " nor marked with a '<!-- not-an-example: why -->' line before them:\n  " + "\n  ".join(loose)
    )


def test_the_matcher_sees_a_changed_block() -> None:
    lines = ["async def main():", "    x = 1", "", "    print(x)", "done"]
    assert is_part_of(("x = 1", "", "print(x)"), lines)
    assert is_part_of(("async def main():", "    x = 1"), lines)
    assert not is_part_of(("x = 2", "", "print(x)"), lines)
    assert not is_part_of(("x = 1", "print(x)"), lines)
    doc_blocks = blocks_of(ROOT / "README.md")
    assert any(b.info == "python" and "connect(URL, token)" in "\n".join(b.lines) for b in doc_blocks)


# --- each example runs against a live server -------------------------------------------------


@dataclass
class Live:
    platform: Platform
    url: str
    app_id: str
    certificate: str
    api_key: str  # <key_id>.<secret>
    keys: AppKeys

    def env(self, **extra: str) -> dict[str, str]:
        key_id, secret = self.api_key.split(".", 1)
        base = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
        return base | {
            "HUBBUB_URL": self.url,
            "HUBBUB_APP_ID": self.app_id,
            "HUBBUB_APP_CERTIFICATE": self.certificate,
            "HUBBUB_KEY_ID": key_id,
            "HUBBUB_KEY_SECRET": secret,
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def verify(self, token: str, channel: str = "room1") -> VerifiedToken:
        return verify_token(
            token,
            lookup=lambda app_id: self.keys if app_id == self.app_id else None,
            now=time.time(),
            channel=channel,
            require=[Privilege.join_channel],
        )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    data_dir = tmp_path_factory.mktemp("examples") / "data"
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir, rtc_udp_port=0, rtc_tcp_port=0, log_format="json")
    platform = await Platform.start(settings)
    try:
        async with serving(platform) as url:
            svc = platform.services
            user = await svc.accounts.sign_up("owner@example.com", "correct horse battery")
            project, certificate = await svc.projects.create(UserPrincipal(user.id), "examples")
            _, credential = await svc.api_keys.create(UserPrincipal(user.id), project.app_id, "examples")
            keys = await svc.projects.app_keys(project.app_id)
            assert keys is not None
            yield Live(platform, url, project.app_id, certificate, credential, keys)
    finally:
        await platform.close()


async def run(*argv: str, env: dict[str, str], timeout: float = 60) -> str:
    """Run an example to its end (the server keeps serving on this loop meanwhile); its stdout."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        raise AssertionError(f"{argv[-1]} did not finish in {timeout} s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: leave nothing running
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, f"{argv[-1]} exited {proc.returncode}:\n{err.decode()[-3000:]}"
    return out.decode()


def needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


on_module_loop = pytest.mark.asyncio(loop_scope="module")


@on_module_loop
async def test_readme_bot_receives_alices_video(live: Live) -> None:
    from hubbub.sdk import FrameCounterTrack, connect

    token = build_token(live.app_id, live.certificate, user_id="alice", channel="room1")
    async with await connect(live.url, token) as alice:
        await alice.publish(FrameCounterTrack(640, 360, 15))
        out = await run(sys.executable, str(EXAMPLES / "bot.py"), env=live.env(), timeout=90)
    assert out.split() == ["640", "360"], out


@on_module_loop
async def test_python_token_builder(live: Live) -> None:
    out = await run(sys.executable, str(EXAMPLES / "build_token.py"), env=live.env())
    granted = live.verify(out.strip())
    assert granted.user_id == "alice"
    assert granted.privileges[Privilege.publish_audio] - granted.privileges[Privilege.join_channel] == -3000


@on_module_loop
async def test_node_token_builder(live: Live) -> None:
    needs("node")
    out = await run("node", str(EXAMPLES / "build_token.js"), env=live.env())
    granted = live.verify(out.strip())
    assert granted.user_id == "alice"
    assert set(granted.privileges) == {Privilege.join_channel, Privilege.publish_audio}


@on_module_loop
async def test_curl_token_over_rest(live: Live) -> None:
    needs("curl")
    answer = json.loads(await run("sh", str(EXAMPLES / "create_token.sh"), env=live.env()))
    assert set(answer) >= {"token", "expires_at", "privileges"}, answer
    assert live.verify(answer["token"]).user_id == "alice"
    assert set(answer["privileges"]) == {"join_channel", "subscribe", "publish_audio"}


@on_module_loop
async def test_python_messaging_client(live: Live) -> None:
    out = await run(sys.executable, str(EXAMPLES / "rtm_client.py"), env=live.env())
    lines = out.strip().split("\n")
    assert lines[0] == "alice hello", out
    assert re.fullmatch(r"seq \d+ history \d+", lines[1]), out


@on_module_loop
async def test_server_message_reaches_a_verified_webhook(live: Live) -> None:
    needs("curl")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with httpx.AsyncClient(base_url=live.url, headers={"Authorization": f"Bearer {live.api_key}"}) as http:
        r = await http.post(
            f"/api/v1/projects/{live.app_id}/webhooks",
            json={"url": f"http://127.0.0.1:{port}/", "events": ["message"]},
        )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
    env = live.env(HUBBUB_WEBHOOK_SECRET=secret, PORT=str(port))
    receiver = asyncio.create_task(run(sys.executable, str(EXAMPLES / "webhook_receiver.py"), env=env))
    try:
        for _ in range(100):  # until it listens
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            await asyncio.sleep(0.05)
        sent = json.loads(
            await run("sh", str(EXAMPLES / "rtm_send.sh"), env=live.env(KEY=live.api_key, APP_ID=live.app_id))
        )
        assert sent["seq"] >= 1, sent
        out = await asyncio.wait_for(receiver, 30)
    finally:
        receiver.cancel()
    assert "verified message.channel" in out, out
    assert "refused" not in out, out


def test_token_claims_are_what_the_builder_writes() -> None:
    documented = json.loads((EXAMPLES / "token_claims.json").read_text())
    token = build_token(
        documented["iss"],
        "c" * 32,
        user_id="alice",
        channel="room1",
        role="host",
        expires_in=3600,
        privileges={"join_channel": 3600, "subscribe": 3600, "publish_audio": 600},
        now=documented["iat"],
    )
    part = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    assert len(claims.pop("jti")) == len(documented.pop("jti"))
    assert claims == documented


def test_agent_configs_are_valid() -> None:
    quick = parse_config(json.loads((EXAMPLES / "agent_quick.json").read_text()))
    assert quick.providers.llm is not None and quick.providers.llm.name == "openai"
    full = parse_config(json.loads((EXAMPLES / "agent_config.json").read_text()))
    assert full.listen_to == ["alice"] and full.turn.silence_ms == 500


def test_settings_file_is_read() -> None:
    settings = load_settings(config_file=EXAMPLES / "hubbub.toml", env={})
    assert (settings.host, settings.port, settings.announced_ip) == ("127.0.0.1", 8080, "203.0.113.10")
    assert settings.database_url.startswith("postgresql+asyncpg://")


# --- the browser examples, in Chromium, served from the server's own origin -------------------


async def open_example(browser: Any, live: Live, name: str, token: str) -> tuple[Any, Any]:
    """docs/examples/<name> as a page of the server's origin, as a developer's own page would be.

    Served by the server itself (mounted for the test): Chromium refuses a loopback socket to a
    page that did not come from loopback."""
    if not any(getattr(r, "path", "") == "/examples" for r in live.platform.app.routes):
        live.platform.app.mount("/examples", StaticFiles(directory=EXAMPLES), name="examples")
    ctx = await browser.new_context(viewport={"width": 960, "height": 600})
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: print(f"[{name}] page error: {exc}"))
    await page.goto(f"{live.url}/examples/{name}?token={token}")
    return ctx, page


@on_module_loop
async def test_browser_chat_panel(browser: Any, live: Live) -> None:
    token = build_token(live.app_id, live.certificate, user_id="carol", channel="*")
    ctx, page = await open_example(browser, live, "chat.html", token)
    try:
        await page.wait_for_selector("#chat form input", timeout=15_000)
        await page.fill("#chat form input", "hi from the page")
        await page.press("#chat form input", "Enter")
        await page.wait_for_function(
            "document.querySelector('.hubbub-chat-log').innerText.includes('carol: hi from the page')", timeout=15_000
        )
    finally:
        await ctx.close()


@on_module_loop
async def test_browser_call_page(browser: Any, live: Live) -> None:
    from hubbub.sdk import FrameCounterTrack, connect

    alice = build_token(live.app_id, live.certificate, user_id="alice", channel="web-call")
    async with await connect(live.url, alice) as room:
        await room.publish(FrameCounterTrack(320, 240, 15))
        web = build_token(live.app_id, live.certificate, user_id="web", channel="web-call")
        ctx, page = await open_example(browser, live, "call.html", web)
        try:
            video = await room.wait_for_track("web", kind="video", timeout=30)
            frame = await asyncio.wait_for(video.recv(), 15)
            assert isinstance(frame, VideoFrame) and frame.width > 0
            await page.wait_for_function(
                "[...document.querySelectorAll('video')].some(v => v.videoWidth > 0)", timeout=20_000
            )
        finally:
            await ctx.close()
