"""What every quality run shares: the runs and the source, the scenarios' impairments and
timelines, the relays, and a call through an SFU (:func:`sfu_call`, which ``hubbub`` and
``janus`` runs share: one publisher page and its subscriber pages, collected together)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hubbub.bench.quality.report import result
from hubbub.bench.quality.speech import RATE, Speech
from hubbub.bench.setup import CHROMIUM_FLAGS
from hubbub.netsim import PROFILES, Impairment, Relay, Timeline

SERVERS = ("hubbub", "p2p", "janus")
LEGS = ("subscriber", "publisher", "both")
STEP = "step-3m-500k"
BAD = "bad-subscriber"
BAD_PROFILE = "congested-300k"  # the bad subscriber's leg; the publisher's and the other subscriber's are clean
SCENARIOS = (*PROFILES, STEP, BAD)
SPEAK = "([b64, rate]) => window.lab.speak(b64, rate)"
# a receiving page's video plays: the track arrived and the element has a frame to show
PLAYING = (
    "window.lab.events.some(e => e.name === 'trackSubscribed' && e.kind === 'video')"
    " && document.getElementById('remote').readyState >= 2"
)
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


def impairment(scenario: str) -> str | Impairment:
    """A scenario's impairment at the start: a profile's, or the step's 3 Mbit/s bottleneck."""
    return Impairment(rate_kbps=3000, queue_ms=200) if scenario == STEP else scenario


def step_timeline(seconds: float) -> tuple[Timeline, tuple[float, float, float]]:
    down, up = seconds / 3, 2 * seconds / 3
    return Timeline.parse(f"{down:.1f} rate_kbps=500 queue_ms=200\n{up:.1f} restore"), (down, 500.0, up)


async def until(page: Any, expression: str, timeout_s: float) -> None:
    await page.wait_for_function(
        f"window.lab && (window.lab.error || ({expression}))", polling=50, timeout=timeout_s * 1000
    )
    error = await page.evaluate("window.lab.error")
    if error:
        raise QualityBenchError(f"the lab page failed: {error}")


@contextlib.asynccontextmanager
async def relay_chain(count: int, to: tuple[str, int], spec: str | Impairment) -> AsyncIterator[list[Relay]]:
    """``count`` relays in a row towards ``to`` (the first is the one a client sends to)."""
    async with contextlib.AsyncExitStack() as stack:
        chain: list[Relay] = []
        target = to
        for _ in range(count):
            relay = await stack.enter_async_context(Relay(to=target, up=spec, down=spec, seed=1))
            chain.insert(0, relay)
            target = relay.address
        yield chain


def play_timeline(relays: Sequence[Relay], timeline: Timeline | None) -> None:
    if timeline is not None:
        for relay in relays:
            relay.play(timeline)


Connect = Callable[[contextlib.AsyncExitStack, str, Any, "str | Impairment | None"], Awaitable[list[Relay]]]


async def sfu_call(
    browser: Any, run: Run, seconds: float, source: Source, speech: Speech, connect: Connect
) -> list[dict[str, Any]]:
    """One publisher and its subscribers (two in the bad-subscriber scenario) through an SFU: a
    record per subscriber. ``connect(stack, who, page, spec)`` brings a new page into the call
    (``who``: publisher, subscriber, bad-subscriber; the publisher first) with its leg through a
    relay running ``spec`` when that is not None, and returns the relays it started."""
    legs: dict[str, str | Impairment | None]
    if run.scenario == BAD:
        legs = {"publisher": None, "subscriber": None, "bad-subscriber": BAD_PROFILE}
    else:
        spec = impairment(run.scenario)
        legs = {who: spec if run.leg in (who, "both") else None for who in ("publisher", "subscriber")}
    timeline, step = step_timeline(seconds) if run.scenario == STEP else (None, None)
    async with contextlib.AsyncExitStack() as stack:
        relays: list[Relay] = []
        pages: dict[str, Any] = {}
        for who, leg_spec in legs.items():
            ctx = await browser.new_context(viewport={"width": 800, "height": 480})
            stack.push_async_callback(ctx.close)
            pages[who] = await ctx.new_page()
            relays += await connect(stack, who, pages[who], leg_spec)
        receivers = [page for who, page in pages.items() if who != "publisher"]
        await asyncio.gather(*(until(page, PLAYING, 30) for page in receivers))
        await asyncio.gather(*(page.evaluate("window.lab.collect(1000)") for page in pages.values()))
        if source.speech:
            await pages["publisher"].evaluate(SPEAK, [await speech.b64(), RATE])
        play_timeline(relays, timeline)
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
