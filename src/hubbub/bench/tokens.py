"""Token throughput on one core: verifications and mints per second of CPU time.

Run with ``python -m hubbub.bench.tokens [SECONDS]``. CPU time (``time.process_time``) rather than
wall time, because the machine is shared.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from hubbub.control.tokens import AppKeys, mint_token, verify_token
from hubbub.schema.tokens import Privilege

__all__ = ["run"]

_KEYS = AppKeys(app_id="bench-app", certificate="0123456789abcdef0123456789abcdef")
_NOW = 1_700_000_000.0


def _rate(op: Callable[[], object], seconds: float) -> float:
    """Calls per CPU second of ``op``, measured in batches until ``seconds`` of CPU time pass."""
    batch = 256
    calls = 0
    start = time.process_time()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(batch):
            op()
        calls += batch
        elapsed = time.process_time() - start
    return calls / elapsed


def run(seconds: float = 2.0) -> dict[str, float]:
    """Measure for about ``seconds`` of CPU time in all (half verifying, half minting)."""
    token = mint_token(
        _KEYS,
        user_id="bench-user",
        channel="bench-room",
        privileges={Privilege.join_channel: 3600, Privilege.publish_audio: 600},
        now=_NOW,
    )

    def lookup(app_id: str) -> AppKeys | None:
        return _KEYS if app_id == _KEYS.app_id else None

    def verify() -> object:
        return verify_token(
            token,
            lookup=lookup,
            now=_NOW + 10,
            channel="bench-room",
            require=(Privilege.join_channel, Privilege.publish_audio),
        )

    def mint() -> object:
        return mint_token(_KEYS, user_id="bench-user", channel="bench-room", now=_NOW)

    verify()  # warm caches (the certificate's prepared HMAC key)
    return {
        "verifications_per_s": _rate(verify, seconds / 2),
        "mint_per_s": _rate(mint, seconds / 2),
    }


if __name__ == "__main__":  # pragma: no cover
    print(run(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0))
