"""Build Hubbub access tokens in your own backend (standard library only).

The builder lives in :mod:`hubbub.schema.token_builder`, beside the token format in
:mod:`hubbub.schema.tokens`, so the server mints with the same code without depending on the SDK;
this module is its place in the SDK.

>>> token = build_token("my-app-id", "0123456789abcdef0123456789abcdef", user_id="alice",
...                     channel="room1", role="host", privileges={"publish_audio": 600})
"""

from __future__ import annotations

from hubbub.schema.token_builder import PrivilegeSpec, build_token, privilege_expiries

__all__ = ["PrivilegeSpec", "build_token", "privilege_expiries"]
