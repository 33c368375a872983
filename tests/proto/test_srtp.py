"""SRTP sessions: both profiles, replay and tamper rejection, NACK resends, reordering window."""

from __future__ import annotations

import contextlib
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.proto.srtp import (
    AEAD_AES_128_GCM,
    AES_CM_128_HMAC_SHA1_80,
    PROFILES_BY_NAME,
    REPLAY_WINDOW,
    SrtpError,
    SrtpProfile,
    SrtpSession,
)

PROFILES = [AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80]
SSRC = 0x11223344


def rtp(seq: int, payload_len: int = 1188, ssrc: int = SSRC) -> bytes:
    """RFC 3550 §5.1 header (V=2, PT=96) and a payload that makes ``payload_len + 12`` bytes."""
    return struct.pack("!BBHII", 0x80, 96, seq & 0xFFFF, seq * 3000, ssrc) + bytes([seq % 256]) * payload_len


def rtcp_sr(ssrc: int = SSRC) -> bytes:
    """RFC 3550 §6.4.1 sender report without report blocks."""
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 1, 2, 3, 4, 5)


def sessions(profile: SrtpProfile) -> tuple[SrtpSession, SrtpSession]:
    a, b = os.urandom(profile.key_salt_len), os.urandom(profile.key_salt_len)
    return SrtpSession(profile, a, b), SrtpSession(profile, b, a)


def test_profile_constants() -> None:
    # RFC 7714 §12 and RFC 5764 §4.1.2; names as OpenSSL spells them in use_srtp.
    assert (AEAD_AES_128_GCM.key_len, AEAD_AES_128_GCM.salt_len) == (16, 12)
    assert (AES_CM_128_HMAC_SHA1_80.key_len, AES_CM_128_HMAC_SHA1_80.salt_len) == (16, 14)
    assert PROFILES_BY_NAME["SRTP_AEAD_AES_128_GCM"] is AEAD_AES_128_GCM
    assert PROFILES_BY_NAME["SRTP_AES128_CM_SHA1_80"] is AES_CM_128_HMAC_SHA1_80


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_round_trip_both_ways(profile: SrtpProfile) -> None:
    left, right = sessions(profile)
    packet = rtp(1)
    protected = left.protect_rtp(packet)
    tag = 16 if profile is AEAD_AES_128_GCM else 10  # RFC 7714 §13.1 / RFC 3711 §4.2 (80 bits)
    assert len(protected) == len(packet) + tag
    assert protected[:12] == packet[:12] and protected[12:] != packet[12:]
    assert right.unprotect_rtp(protected) == packet
    assert left.unprotect_rtp(right.protect_rtp(packet)) == packet
    sr = rtcp_sr()
    assert right.unprotect_rtcp(left.protect_rtcp(sr)) == sr
    assert left.unprotect_rtcp(right.protect_rtcp(sr)) == sr


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_any_ssrc_is_accepted(profile: SrtpProfile) -> None:
    left, right = sessions(profile)
    for ssrc in (1, 0xFFFFFFFF, 0x55555555):
        assert right.unprotect_rtp(left.protect_rtp(rtp(7, ssrc=ssrc))) == rtp(7, ssrc=ssrc)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_replay_is_rejected(profile: SrtpProfile) -> None:
    left, right = sessions(profile)
    protected = left.protect_rtp(rtp(5))
    right.unprotect_rtp(protected)
    with pytest.raises(SrtpError, match="replay"):
        right.unprotect_rtp(protected)
    sr = left.protect_rtcp(rtcp_sr())
    right.unprotect_rtcp(sr)
    with pytest.raises(SrtpError, match="replay"):
        right.unprotect_rtcp(sr)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("where", [0, 1, 12, 100, -1])
def test_tampered_packet_is_rejected(profile: SrtpProfile, where: int) -> None:
    left, right = sessions(profile)
    protected = bytearray(left.protect_rtp(rtp(9)))
    protected[where] ^= 0x01
    with pytest.raises(SrtpError) as info:
        right.unprotect_rtp(bytes(protected))
    assert info.value.reason  # libsrtp's words, for the transport's counters
    tampered_rtcp = bytearray(left.protect_rtcp(rtcp_sr()))
    tampered_rtcp[10] ^= 0x80
    with pytest.raises(SrtpError, match="authentication failure"):
        right.unprotect_rtcp(bytes(tampered_rtcp))


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_wrong_key_is_rejected(profile: SrtpProfile) -> None:
    left, _ = sessions(profile)
    _, stranger = sessions(profile)
    with pytest.raises(SrtpError, match="authentication failure"):
        stranger.unprotect_rtp(left.protect_rtp(rtp(1)))


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_nack_resend_can_be_protected_again(profile: SrtpProfile) -> None:
    # RFC 4585 §6.2.1: a NACKed packet is sent again with the same sequence number.
    left, right = sessions(profile)
    first = left.protect_rtp(rtp(42))
    left.protect_rtp(rtp(43))
    again = left.protect_rtp(rtp(42))  # libsrtp refuses this unless allow_repeat_tx is set
    assert again == first  # same index, same keystream, same plaintext: same bytes
    assert right.unprotect_rtp(again) == rtp(42)  # the first copy was lost


def test_resend_older_than_the_window_is_refused() -> None:
    left, _ = sessions(AEAD_AES_128_GCM)
    for seq in range(1, REPLAY_WINDOW + 3):
        left.protect_rtp(rtp(seq, payload_len=8))
    left.protect_rtp(rtp(3, payload_len=8))  # within the window: fine
    with pytest.raises(SrtpError, match="too old"):
        left.protect_rtp(rtp(1, payload_len=8))


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_late_packets_within_the_replay_window(profile: SrtpProfile) -> None:
    left, right = sessions(profile)
    protected = [left.protect_rtp(rtp(seq, payload_len=20)) for seq in range(1, REPLAY_WINDOW)]
    right.unprotect_rtp(protected[-1])
    assert right.unprotect_rtp(protected[0]) == rtp(1, payload_len=20)  # 1022 packets late
    late = left.protect_rtp(rtp(REPLAY_WINDOW + 1500, payload_len=20))
    right.unprotect_rtp(late)
    with pytest.raises(SrtpError, match="replay"):
        right.unprotect_rtp(protected[1])  # now far outside the window


def test_sequence_number_rollover() -> None:
    left, right = sessions(AEAD_AES_128_GCM)
    for seq in range(0xFFF0, 0x10010):  # RFC 3711 §3.3.1: the ROC increments at the wrap
        assert right.unprotect_rtp(left.protect_rtp(rtp(seq, payload_len=8))) == rtp(seq, payload_len=8)


def test_key_length_is_checked() -> None:
    with pytest.raises(ValueError, match="28 bytes"):
        SrtpSession(AEAD_AES_128_GCM, bytes(30), bytes(28))
    with pytest.raises(ValueError, match="30 bytes"):
        SrtpSession(AES_CM_128_HMAC_SHA1_80, bytes(30), bytes(28))


def test_oversize_packet_raises_srtp_error() -> None:
    left, right = sessions(AEAD_AES_128_GCM)
    with pytest.raises(SrtpError):
        left.protect_rtp(rtp(1, payload_len=1490))
    with pytest.raises(SrtpError):
        right.unprotect_rtp(bytes(2000))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=1600))
def test_garbage_only_ever_raises_srtp_error(data: bytes) -> None:
    _, right = sessions(AEAD_AES_128_GCM)
    for unprotect in (right.unprotect_rtp, right.unprotect_rtcp):
        with contextlib.suppress(SrtpError):
            unprotect(data)
