"""SRTP/SRTCP sessions keyed by DTLS-SRTP (RFC 5764), backed by libsrtp through pylibsrtp.

One ``SrtpSession`` per DTLS association holds two libsrtp sessions:

- outbound, keyed with our write key + salt, for any SSRC we send (``SSRC_ANY_OUTBOUND``);
  ``allow_repeat_tx`` is on so that a packet resent for a NACK (RFC 4585 §6.2.1) with the
  same sequence number can be protected again (libsrtp otherwise refuses a repeated index);
  the sender's window bounds it: a packet more than ``REPLAY_WINDOW`` indices older than the
  newest one sent is refused as "index too old", so NACK caches need keep no more than that;
- inbound, keyed with the peer's write key + salt, for any SSRC it sends (``SSRC_ANY_INBOUND``),
  with a 1024-packet replay window (RFC 3711 §3.3.2) so that late NACK/RTX repairs and
  reordered video bursts are not taken for replays.

Failures to unprotect (authentication failure, replay, truncated packet) raise ``SrtpError``
carrying libsrtp's reason; the transport counts and drops the packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pylibsrtp

__all__ = [
    "AEAD_AES_128_GCM",
    "AES_CM_128_HMAC_SHA1_80",
    "PROFILES_BY_NAME",
    "SrtpError",
    "SrtpProfile",
    "SrtpSession",
]

REPLAY_WINDOW: Final = 1024


class SrtpError(Exception):
    """A packet that could not be protected or unprotected; ``reason`` is libsrtp's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SrtpProfile:
    """A DTLS-SRTP protection profile (RFC 5764 §4.1.2) and its master key sizes."""

    name: str  # the OpenSSL / IANA "DTLS-SRTP Protection Profiles" name
    key_len: int
    salt_len: int
    libsrtp_id: int

    @property
    def key_salt_len(self) -> int:
        return self.key_len + self.salt_len


# RFC 7714 §12: AEAD_AES_128_GCM, 128-bit key, 96-bit salt, 16-byte tag. Cheaper than CM+HMAC.
AEAD_AES_128_GCM: Final = SrtpProfile("SRTP_AEAD_AES_128_GCM", 16, 12, pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM)
# RFC 5764 §4.1.2: SRTP_AES128_CM_HMAC_SHA1_80, 128-bit key, 112-bit salt, 80-bit tag.
AES_CM_128_HMAC_SHA1_80: Final = SrtpProfile(
    "SRTP_AES128_CM_SHA1_80", 16, 14, pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
)

PROFILES_BY_NAME: Final[dict[str, SrtpProfile]] = {p.name: p for p in (AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80)}


def _policy(profile: SrtpProfile, key_salt: bytes, ssrc_type: int) -> pylibsrtp.Policy:
    if len(key_salt) != profile.key_salt_len:
        raise ValueError(f"{profile.name} needs {profile.key_salt_len} bytes of key + salt, got {len(key_salt)}")
    policy = pylibsrtp.Policy(key=key_salt, ssrc_type=ssrc_type, srtp_profile=profile.libsrtp_id)
    policy.allow_repeat_tx = True
    policy.window_size = REPLAY_WINDOW
    return policy


class SrtpSession:
    """Protects what we send with ``local_key_salt`` and unprotects what the peer sends."""

    __slots__ = ("_rx", "_tx", "profile")

    def __init__(self, profile: SrtpProfile, local_key_salt: bytes, remote_key_salt: bytes) -> None:
        self.profile = profile
        self._tx = pylibsrtp.Session(_policy(profile, local_key_salt, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        self._rx = pylibsrtp.Session(_policy(profile, remote_key_salt, pylibsrtp.Policy.SSRC_ANY_INBOUND))

    def protect_rtp(self, packet: bytes) -> bytes:
        """RFC 3711 §3.3: encrypt and authenticate an RTP packet."""
        try:
            return self._tx.protect(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            raise SrtpError(str(exc)) from None

    def unprotect_rtp(self, packet: bytes) -> bytes:
        """RFC 3711 §3.3: authenticate, replay-check and decrypt an SRTP packet."""
        try:
            return self._rx.unprotect(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            raise SrtpError(str(exc)) from None

    def protect_rtcp(self, packet: bytes) -> bytes:
        """RFC 3711 §3.4: SRTCP with the E flag set (RTCP is always encrypted here)."""
        try:
            return self._tx.protect_rtcp(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            raise SrtpError(str(exc)) from None

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """RFC 3711 §3.4: authenticate, replay-check (SRTCP index) and decrypt an SRTCP packet."""
        try:
            return self._rx.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError) as exc:
            raise SrtpError(str(exc)) from None
