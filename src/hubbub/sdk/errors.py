"""Errors raised by the Hubbub client SDK.

Every error the SDK raises on purpose derives from :class:`HubbubError`, which carries the stable
``code`` the server sent (an :class:`hubbub.schema.signaling.ErrorCode` or a
:class:`hubbub.schema.tokens.TokenErrorCode` value) and a human-readable ``message``:

- :class:`JoinError` -- ``connect()`` was refused (bad or expired token, room full, ...);
- :class:`PermissionDenied` -- a request needs a privilege the token does not grant;
- :class:`RequestTimeout` -- the server did not answer in time (also a :class:`TimeoutError`);
- :class:`ConnectionLostError` -- the connection dropped and could not be resumed in time;
- :class:`Kicked` -- the server removed this participant from the room.
"""

from __future__ import annotations

from hubbub.schema.signaling import ErrorCode, LeaveReason
from hubbub.schema.tokens import TokenErrorCode

__all__ = [
    "ConnectionLostError",
    "HubbubError",
    "JoinError",
    "Kicked",
    "PermissionDenied",
    "RequestTimeout",
    "TokenErrorCode",
    "error_from_frame",
]


class HubbubError(Exception):
    """A request failed; ``code`` is the server's stable error code, ``message`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class JoinError(HubbubError):
    """The server refused ``join``.

    ``code`` is one of the token error codes (:class:`~hubbub.schema.tokens.TokenErrorCode`, e.g.
    ``token_expired``, ``token_channel_mismatch``) or a protocol code such as ``room_full`` or
    ``unsupported_protocol``.
    """

    @property
    def is_token_error(self) -> bool:
        """True when the token itself was refused: mint a new one before trying again."""
        return self.code in TokenErrorCode.__members__


class PermissionDenied(HubbubError):
    """The token does not grant what the request needs (e.g. ``publish`` without publish rights)."""


class RequestTimeout(HubbubError, TimeoutError):
    """The server sent no reply within the request timeout."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


class ConnectionLostError(HubbubError, ConnectionError):
    """The signaling connection dropped and the session could not be resumed (or was never open)."""

    def __init__(self, message: str, code: str = LeaveReason.connection_lost.value) -> None:
        super().__init__(code, message)


class Kicked(HubbubError):
    """The server removed this participant; ``reason`` is a :class:`~hubbub.schema.signaling.LeaveReason`."""

    def __init__(self, reason: LeaveReason | str, message: str = "") -> None:
        super().__init__(str(reason), message or f"removed from the room ({reason})")
        self.reason = reason


def error_from_frame(code: str, message: str, *, joining: bool = False) -> HubbubError:
    """Map an ``error`` frame to the most specific SDK error."""
    if joining:
        return JoinError(code, message)
    if code == ErrorCode.permission_denied or code in (
        TokenErrorCode.token_privilege_missing,
        TokenErrorCode.token_privilege_expired,
    ):
        return PermissionDenied(code, message)
    return HubbubError(code, message)
