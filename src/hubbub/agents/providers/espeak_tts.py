"""espeak-ng speech synthesis (GPL-3 program, run as a separate process): robotic but always there.

``espeak-ng --stdout`` writes a WAV (22.05 kHz) as it synthesises, clause by clause; the audio is
resampled to the configured rate (16 or 48 kHz, or any other) and yielded as it arrives. The text
goes through stdin, never the command line, so it can neither be taken for an option nor hit
argument-length limits. Debian: ``apt-get install espeak-ng``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import AsyncGenerator

from .audio import Resampler, WavError, WavStreamDecoder
from .base import TTS, ProviderError, TtsCapabilities

_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+\-]{0,40}$")
_READ = 8192
_MIN_CHUNK_S = 0.02  # don't yield slivers smaller than one 20 ms frame (except the last)


def find_espeak(executable: str = "espeak-ng") -> str | None:
    return shutil.which(executable)


def is_available() -> bool:
    return find_espeak() is not None


class EspeakTTS(TTS):
    name = "espeak"

    def __init__(
        self,
        *,
        voice: str = "en-us",
        rate: int = 175,
        pitch: int | None = None,
        sample_rate: int = 16_000,
        executable: str = "espeak-ng",
        timeout: float = 20.0,
    ) -> None:
        super().__init__(timeout=timeout)
        if not _VOICE.match(voice):
            raise ValueError(f"invalid espeak-ng voice name {voice!r}")
        if not 80 <= int(rate) <= 500:
            raise ValueError(f"rate must be 80-500 words per minute, got {rate}")
        if pitch is not None and not 0 <= int(pitch) <= 99:
            raise ValueError(f"pitch must be 0-99, got {pitch}")
        self.voice = voice
        self.rate = int(rate)
        self.pitch = pitch
        self.executable = executable
        self.capabilities = TtsCapabilities(sample_rate=int(sample_rate), streaming=True)

    def _argv(self, path: str) -> list[str]:
        argv = [path, "--stdout", "-v", self.voice, "-s", str(self.rate)]
        if self.pitch is not None:
            argv += ["-p", str(self.pitch)]
        return argv

    async def _synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        if not text.strip():
            return
        path = find_espeak(self.executable)
        if path is None:
            raise ProviderError(self.name, f"{self.executable} not found (Debian: apt-get install espeak-ng)")
        proc = await asyncio.create_subprocess_exec(
            *self._argv(path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(text.encode("utf-8") + b"\n")
            await proc.stdin.drain()
            proc.stdin.close()
            out_rate = self.capabilities.sample_rate
            min_bytes = int(out_rate * _MIN_CHUNK_S) * 2
            decoder = WavStreamDecoder()
            resampler: Resampler | None = None
            pending = b""
            while piece := await proc.stdout.read(_READ):
                pcm = decoder.feed(piece)
                if resampler is None and decoder.sample_rate is not None:
                    resampler = Resampler(decoder.sample_rate, out_rate)
                if pcm and resampler is not None:
                    pending += resampler.process(pcm)
                    if len(pending) >= min_bytes:
                        yield pending
                        pending = b""
            code = await proc.wait()
            if code != 0 or resampler is None:
                detail = (await proc.stderr.read(500)).decode("utf-8", "replace").strip().splitlines()
                raise ProviderError(self.name, f"espeak-ng failed (exit {code}): {detail[0] if detail else 'no audio'}")
            pending += resampler.flush()
            if pending:
                yield pending
        except WavError as exc:
            raise ProviderError(self.name, f"espeak-ng wrote an unreadable WAV: {exc}") from None
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
