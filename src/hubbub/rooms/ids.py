"""Server ids: short, random, prefixed by what they name (RM_ room, PA_ participant, TR_ track)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_sid(prefix: str, length: int = 12) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def room_sid() -> str:
    return new_sid("RM_")


def participant_sid() -> str:
    return new_sid("PA_")


def track_sid() -> str:
    return new_sid("TR_")
