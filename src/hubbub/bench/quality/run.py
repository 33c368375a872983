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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hubbub.bench.quality.report import result
from hubbub.bench.quality.speech import RATE, Speech
from hubbub.bench.setup import CHROMIUM, CHROMIUM_FLAGS, available
from hubbub.netsim import PROFILES, Impairment, Relay, Timeline

SERVERS = ("hubbub", "p2p")
LEGS = ("subscriber", "publisher", "both")
STEP = "step-3m-500k"
BAD = "bad-subscriber"
BAD_PROFILE = "congested-300k"  # the bad subscriber's leg; the publisher's and the other subscriber's are clean
SCENARIOS = (*PROFILES, STEP, BAD)
SPEAK = "([b64, rate]) => window.lab.speak(b64, rate)"
FLAGS = [*CHROMIUM_FLAGS, "--disable-features=WebRtcHideLocalIpsWithMdns"]  # p2p: host candidates as IPs


class QualityBenchError(RuntimeError):
    """The benchmark cannot run here (no browser, no Playwright) or a page failed."""


@dataclass(frozen=True)
class Run:
    server: str
    scenario: str
    leg: str


@dataclass(frozen=True)
class Source:
    """What is sent: the canvas (the default fits two cores' software encoders; the 1v1-hd preset is
    1280x720) and, with ``speech``, a spoken text in place of the tone, scored as ``wer``."""

    width: int = 640
    height: int = 360
    fps: int = 30
    speech: bool = True

    @property
    def query(self) -> dict[str, str]:
        size = {"width": str(self.width), "height": str(self.height), "fps": str(self.fps)}
        return {**size, "speech": "1"} if self.speech else size


def _impairment(scenario: str) -> str | Impairment:
    """A scenario's impairment at the start: a profile's, or the step's 3 Mbit/s bottleneck."""
    return Impairment(rate_kbps=3000, queue_ms=200) if scenario == STEP else scenario


def _step_timeline(seconds: float) -> tuple[Timeline, tuple[float, float, float]]:
    down, up = seconds / 3, 2 * seconds / 3
    return Timeline.parse(f"{down:.1f} rate_kbps=500 queue_ms=200\n{up:.1f} restore"), (down, 500.0, up)


async def _until(page: Any, expression: str, timeout_s: float) -> None:
    await page.wait_for_function(
        f"window.lab && (window.lab.error || ({expression}))", polling=50, timeout=timeout_s * 1000
    )
    error = await page.evaluate("window.lab.error")
    if error:
        raise QualityBenchError(f"the lab page failed: {error}")


@contextlib.asynccontextmanager
async def _relays(count: int, to: tuple[str, int], spec: str | Impairment) -> AsyncIterator[list[Relay]]:
    """``count`` relays in a row towards ``to`` (the first is the one a client sends to)."""
    async with contextlib.AsyncExitStack() as stack:
        chain: list[Relay] = []
        target = to
        for _ in range(count):
            relay = await stack.enter_async_context(Relay(to=target, up=spec, down=spec, seed=1))
            chain.insert(0, relay)
            target = relay.address
        yield chain


def _play(relays: Sequence[Relay], timeline: Timeline | None) -> None:
    if timeline is not None:
        for relay in relays:
            relay.play(timeline)


async def _hubbub(
    browser: Any,
    base: str,
    token: Any,
    media: tuple[str, int],
    run: Run,
    seconds: float,
    source: Source,
    speech: Speech,
) -> list[dict[str, Any]]:
    """One publisher and its subscribers (two in the bad-subscriber scenario): a record per subscriber."""
    legs: dict[str, str | Impairment | None]
    if run.scenario == BAD:
        legs = {"publisher": None, "subscriber": None, "bad-subscriber": BAD_PROFILE}
    else:
        spec = _impairment(run.scenario)
        legs = {who: spec if run.leg in (who, "both") else None for who in ("publisher", "subscriber")}
    timeline, step = _step_timeline(seconds) if run.scenario == STEP else (None, None)
    channel = f"q-{int(time.time() * 1000) % 10_000_000}"
    async with contextlib.AsyncExitStack() as stack:
        relays: dict[str, Relay] = {}
        for who, leg_spec in legs.items():
            if leg_spec is not None:
                relays[who] = (await stack.enter_async_context(_relays(1, media, leg_spec)))[0]
        pages: dict[str, Any] = {}
        for who in legs:
            query = {
                "role": "publish" if who == "publisher" else "subscribe",
                "token": token(who, channel),
                **source.query,
            }
            if who in relays:
                host, port = relays[who].address
                query["relay"] = f"{host}:{port}"
            ctx = await browser.new_context(viewport={"width": 800, "height": 480})
            stack.push_async_callback(ctx.close)
            pages[who] = await ctx.new_page()
            await pages[who].goto(f"{base}/lab/?" + urlencode(query))
            await _until(pages[who], "window.lab.ready", 30)
        playing = "window.lab.events.some(e => e.name === 'trackSubscribed' && e.kind === 'video')"
        await asyncio.gather(*(_until(page, playing, 30) for who, page in pages.items() if who != "publisher"))
        await asyncio.gather(*(page.evaluate("window.lab.collect(1000)") for page in pages.values()))
        if source.speech:
            await pages["publisher"].evaluate(SPEAK, [await speech.b64(), RATE])
        _play(list(relays.values()), timeline)
        await asyncio.sleep(seconds)
        collected = dict(
            zip(pages, await asyncio.gather(*(p.evaluate("window.lab.result()") for p in pages.values())), strict=True)
        )
    sent = collected.pop("publisher")
    return [
        result(
            run.server,
            run.scenario,
            who if run.scenario == BAD else run.leg,
            received,
            sent,
            step=step,
            wer=await speech.wer(received),
        )
        for who, received in collected.items()
    ]


def _pick(candidates: Sequence[Sequence[Any]]) -> tuple[str, int]:
    ipv4 = [(str(a), int(p)) for a, p in candidates if ":" not in str(a) and not str(a).endswith(".local")]
    if not ipv4:
        raise QualityBenchError(f"the sender gathered no IPv4 host candidate: {candidates}")
    return next((c for c in ipv4 if c[0] == "127.0.0.1"), ipv4[0])


async def _p2p(browser: Any, base: str, run: Run, seconds: float, source: Source, speech: Speech) -> dict[str, Any]:
    spec = _impairment(run.scenario)
    timeline, step = _step_timeline(seconds) if run.scenario == STEP else (None, None)
    ctx = await browser.new_context(viewport={"width": 800, "height": 480})
    try:
        page = await ctx.new_page()
        await page.goto(f"{base}/lab/?" + urlencode({"role": "p2p", **source.query}))
        await _until(page, "window.lab.offer", 30)
        target = _pick(await page.evaluate("window.lab.offer()"))
        async with _relays(2 if run.leg == "both" else 1, target, spec) as relays:
            host, port = relays[0].address
            await page.evaluate(f"window.lab.answer('{host}:{port}')")
            await _until(page, "document.getElementById('remote').readyState >= 2", 30)
            await page.evaluate("window.lab.collect(1000)")
            if source.speech:
                await page.evaluate(SPEAK, [await speech.b64(), RATE])
            _play(relays, timeline)
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
        for run in runs:
            try:
                if run.server == "p2p":
                    results.append(await _p2p(browser, base, run, seconds, source, speech))
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
