"""Run the call-quality scenarios: Chromium to Chromium through hubbub, and peer to peer.

A platform starts in this process (SQLite in a temporary directory, media on loopback) and serves
the lab page (/lab/, src/hubbub/web/lab/). Debian's Chromium, driven by Playwright, opens it:

- ``hubbub``: a publisher page (a stamped 640x360 canvas at 30 fps and a tone, the ``1v1-hd``
  preset's 1.7 Mbit/s cap) and a subscriber page, each in its own browser context. The leg under
  test goes through its own :class:`hubbub.netsim.Relay` (the Web SDK's ``mediaRelay``) with the
  profile applied in both directions; ``both`` gives each page its own relay.
- ``p2p``: one page sends from one RTCPeerConnection to another (libwebrtc's congestion control end
  to end). The sender's host port is learnt from its gathered offer, a relay is started towards it,
  and the receiver gets the offer with every candidate moved to the relay, so every packet between
  them crosses the profile. There is one path, so ``subscriber`` and ``publisher`` are the same run;
  ``both`` puts two relays in a row (the profile twice, as the two legs of a call through a server).

The ``bad-subscriber`` scenario (hubbub) has one publisher and two subscribers, one of them on
``congested-300k``: a record for each subscriber says what the good one receives beside the bad one.

Once the video plays, both sides are sampled every second for ``seconds``; a step scenario
changes the relay's capacity on a timeline meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hubbub.bench.janus import JanusError, JanusServer
from hubbub.bench.quality.call import (
    FLAGS,
    SPEAK,
    STEP,
    QualityBenchError,
    Run,
    Source,
    impairment,
    play_timeline,
    relay_chain,
    sfu_call,
    step_timeline,
    until,
)
from hubbub.bench.quality.janus import janus_call
from hubbub.bench.quality.report import result
from hubbub.bench.quality.speech import RATE, Speech
from hubbub.bench.setup import CHROMIUM, available
from hubbub.netsim import Impairment, Relay


async def _hubbub(
    browser: Any,
    base: str,
    token: Callable[[str, str], str],
    media: tuple[str, int],
    run: Run,
    seconds: float,
    source: Source,
    speech: Speech,
) -> list[dict[str, Any]]:
    """The call through hubbub: each page joins with a token; a relayed page's SDK sends its media to
    the relay (``?relay=``, the Web SDK's ``mediaRelay``)."""
    channel = f"q-{int(time.time() * 1000) % 10_000_000}"

    async def connect(
        stack: contextlib.AsyncExitStack, who: str, page: Any, spec: str | Impairment | None
    ) -> list[Relay]:
        query = {"role": "publish" if who == "publisher" else "subscribe", "token": token(who, channel), **source.query}
        relays = [] if spec is None else await stack.enter_async_context(relay_chain(1, media, spec))
        if relays:
            host, port = relays[0].address
            query["relay"] = f"{host}:{port}"
        await page.goto(f"{base}/lab/?" + urlencode(query))
        await until(page, "window.lab.ready", 30)
        return relays

    return await sfu_call(browser, run, seconds, source, speech, connect)


def _pick(candidates: Sequence[Sequence[Any]]) -> tuple[str, int]:
    ipv4 = [(str(a), int(p)) for a, p in candidates if ":" not in str(a) and not str(a).endswith(".local")]
    if not ipv4:
        raise QualityBenchError(f"the sender gathered no IPv4 host candidate: {candidates}")
    return next((c for c in ipv4 if c[0] == "127.0.0.1"), ipv4[0])


async def _p2p(browser: Any, base: str, run: Run, seconds: float, source: Source, speech: Speech) -> dict[str, Any]:
    spec = impairment(run.scenario)
    timeline, step = step_timeline(seconds) if run.scenario == STEP else (None, None)
    ctx = await browser.new_context(viewport={"width": 800, "height": 480})
    try:
        page = await ctx.new_page()
        await page.goto(f"{base}/lab/?" + urlencode({"role": "p2p", **source.query}))
        await until(page, "window.lab.offer", 30)
        target = _pick(await page.evaluate("window.lab.offer()"))
        async with relay_chain(2 if run.leg == "both" else 1, target, spec) as relays:
            host, port = relays[0].address
            await page.evaluate(f"window.lab.answer('{host}:{port}')")
            await until(page, "document.getElementById('remote').readyState >= 2", 30)
            await page.evaluate("window.lab.collect(1000)")
            if source.speech:
                await page.evaluate(SPEAK, [await speech.b64(), RATE])
            play_timeline(relays, timeline)
            await asyncio.sleep(seconds)
            collected = await page.evaluate("window.lab.result()")
            forwarded = sum(r.stats()["down"]["forwarded"] for r in relays)
    finally:
        await ctx.close()
    record = result(run.server, run.scenario, run.leg, collected, collected, step=step, wer=await speech.wer(collected))
    record["relay_forwarded"] = forwarded  # the media did cross the relay
    return record


async def measure(runs: Sequence[Run], seconds: float = 30.0, source: Source | None = None) -> dict[str, Any]:
    """Every run in this event loop; returns ``{"results": [...], "errors": [...]}``."""
    source = source or Source()
    speech = Speech()
    why = available()
    if why is not None:
        raise QualityBenchError(why)
    from playwright.async_api import async_playwright

    from hubbub.config import Settings
    from hubbub.control.context import UserPrincipal
    from hubbub.sdk.token import build_token
    from hubbub.server.platform import Platform, serving

    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    async with contextlib.AsyncExitStack() as stack:
        data_dir = Path(tempfile.mkdtemp(prefix="hubbub-bench-quality-"))
        stack.callback(shutil.rmtree, data_dir, ignore_errors=True)
        settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir, rtc_udp_port=0, rtc_tcp_port=0)
        platform = await Platform.start(settings)
        stack.push_async_callback(platform.close)
        base = await stack.enter_async_context(serving(platform))
        pw = await stack.enter_async_context(async_playwright())
        user = await platform.services.accounts.sign_up("bench@example.com", "correct horse battery")
        project, certificate = await platform.services.projects.create(UserPrincipal(user.id), "bench")

        def token(who: str, channel: str) -> str:
            return build_token(project.app_id, certificate, user_id=who, channel=channel)

        udp = platform.transport.udp_address
        if udp is None:
            raise QualityBenchError("the platform has no UDP media port")
        media = ("127.0.0.1", udp[1])
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        stack.push_async_callback(browser.close)
        janus: JanusServer | None = None
        if any(r.server == "janus" for r in runs):
            janus = JanusServer()
            try:
                await janus.start()
            except JanusError as exc:
                raise QualityBenchError(f"cannot start Janus: {exc}") from exc
            stack.push_async_callback(janus.stop)
        for run in runs:
            try:
                if run.server == "p2p":
                    results.append(await _p2p(browser, base, run, seconds, source, speech))
                elif run.server == "janus":
                    assert janus is not None
                    results.extend(await janus_call(browser, base, janus, run, seconds, source, speech))
                else:
                    results.extend(await _hubbub(browser, base, token, media, run, seconds, source, speech))
            except Exception as exc:  # one failed run does not end the others
                errors.append({"server": run.server, "scenario": run.scenario, "leg": run.leg, "error": str(exc)})
        return {
            "seconds": seconds,
            "video": f"{source.width}x{source.height}@{source.fps}",
            "browser": f"Chromium {browser.version}",
            "results": results,
            "errors": errors,
        }


def run(runs: Sequence[Run], seconds: float = 30.0, source: Source | None = None) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(measure(runs, seconds, source))
    return uvloop.run(measure(runs, seconds, source))
