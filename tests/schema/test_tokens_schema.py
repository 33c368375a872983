from __future__ import annotations

import pytest

from hubbub.schema.tokens import (
    DEFAULT_PRIVILEGES,
    Privilege,
    Role,
    TokenErrorCode,
    is_valid_channel,
    is_valid_user_id,
)


def test_enum_values_are_stable_and_equal_their_names() -> None:
    assert [r.value for r in Role] == ["host", "audience", "agent", "admin"]
    assert [p.value for p in Privilege] == [
        "join_channel",
        "publish_audio",
        "publish_video",
        "publish_data",
        "subscribe",
        "rtm_login",
        "room_admin",
    ]
    assert {c.value for c in TokenErrorCode} >= {
        "token_malformed",
        "token_bad_signature",
        "token_unknown_app",
        "token_wrong_app",
        "token_expired",
        "token_not_yet_valid",
        "token_channel_mismatch",
        "token_privilege_missing",
        "token_privilege_expired",
    }
    for enum in (Role, Privilege, TokenErrorCode):
        for member in enum:
            assert member.name == member.value


def test_default_privileges() -> None:
    everything = frozenset(Privilege)
    assert DEFAULT_PRIVILEGES[Role.admin] == everything
    assert DEFAULT_PRIVILEGES[Role.host] == everything - {Privilege.room_admin}
    assert DEFAULT_PRIVILEGES[Role.agent] == DEFAULT_PRIVILEGES[Role.host]
    assert DEFAULT_PRIVILEGES[Role.audience] == {
        Privilege.join_channel,
        Privilege.subscribe,
        Privilege.rtm_login,
        Privilege.publish_data,
    }
    assert set(DEFAULT_PRIVILEGES) == set(Role)
    with pytest.raises(TypeError):
        DEFAULT_PRIVILEGES[Role.audience] = frozenset()  # type: ignore[index]


@pytest.mark.parametrize(
    "channel",
    ["*", "room1", "a", "x" * 64, "A-Z a_z 0.9", "!#$%&()+-:;<=.>?@[]^_{|}~,"],
)
def test_valid_channels(channel: str) -> None:
    assert is_valid_channel(channel)


@pytest.mark.parametrize("channel", ["", "x" * 65, "**", "room*", "a/b", "tab\there", "é", "room\n", None, 5])
def test_invalid_channels(channel: object) -> None:
    assert not is_valid_channel(channel)


def test_user_ids() -> None:
    assert is_valid_user_id("a")
    assert is_valid_user_id("x" * 255)
    assert not is_valid_user_id("")
    assert not is_valid_user_id("x" * 256)
    assert not is_valid_user_id(42)
