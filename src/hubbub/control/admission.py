"""Who may enter a channel: token (or App-ID-only testing mode) checks for joins and renewals.

Keys are cached for a few seconds so a burst of joins costs one database read per project; a
rotation is seen within ``KEY_CACHE_TTL`` seconds.
"""

from __future__ import annotations

import logging

from hubbub.control.context import ControlContext
from hubbub.control.projects import Projects
from hubbub.control.tokens import (
    AppKeys,
    TokenError,
    VerifiedToken,
    unverified_app_id,
    verify_app_only,
    verify_token,
)
from hubbub.schema.tokens import WILDCARD_CHANNEL, Privilege, TokenErrorCode, is_valid_channel

log = logging.getLogger("hubbub.admission")

KEY_CACHE_TTL = 5.0


class Admission:
    def __init__(self, ctx: ControlContext, projects: Projects) -> None:
        self.ctx = ctx
        self.projects = projects
        self._cache: dict[str, tuple[float, AppKeys | None]] = {}

    async def keys(self, app_id: str) -> AppKeys | None:
        now = self.ctx.clock()
        hit = self._cache.get(app_id)
        if hit is not None and now - hit[0] < KEY_CACHE_TTL:
            return hit[1]
        keys = await self.projects.app_keys(app_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[app_id] = (now, keys)
        return keys

    def forget(self, app_id: str) -> None:
        self._cache.pop(app_id, None)

    async def verify(self, token: str, *, channel: str | None, app_id: str | None = None) -> VerifiedToken:
        """Check a token for joining ``channel`` (None: the token's own channel, which must not be ``*``)."""
        keys = await self.keys(unverified_app_id(token))
        verified = verify_token(
            token,
            lookup=lambda _app: keys,
            now=self.ctx.clock(),
            leeway=self.ctx.settings.token_leeway_s,
            expected_app_id=app_id,
            channel=channel,
            require=(Privilege.join_channel,),
        )
        if channel is None and verified.channel == WILDCARD_CHANNEL:
            raise TokenError(
                TokenErrorCode.token_channel_mismatch,
                "the token is valid for any channel ('*'): name the channel to join",
            )
        return verified

    async def admit(
        self, *, token: str, channel: str, app_id: str = "", user_id: str = ""
    ) -> tuple[VerifiedToken, str]:
        """Admit a join: returns the grant and the channel joined.

        With a token, ``channel`` may be empty (the token's channel is used). Without one, the
        project must be in testing mode and ``app_id``, ``user_id`` and ``channel`` are required.
        """
        if channel and not is_valid_channel(channel):
            raise TokenError(TokenErrorCode.token_malformed, "not a valid channel name")
        if token:
            verified = await self.verify(token, channel=channel or None, app_id=app_id or None)
            return verified, channel or verified.channel
        if not app_id:
            raise TokenError(TokenErrorCode.token_required, "send a token (or an App ID in testing mode)")
        keys = await self.keys(app_id)
        verified = verify_app_only(app_id, user_id, channel, lambda _a: keys, self.ctx.clock())
        log.warning("testing-mode join (App ID only, insecure)", extra={"app_id": app_id})
        return verified, channel
