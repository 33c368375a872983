"""Timelines: a small script that changes the impairments at given seconds into a run.

A step is a JSON object, ``{"at": 10, "rate_kbps": 500}``: ``at`` (seconds from the start), an
optional ``direction`` (``up``, ``down`` or ``both``, the default), and one of: impairment fields
to change (see :class:`~hubbub.netsim.engine.Impairment`), ``"profile": NAME`` (take that
profile's impairment for the direction), or ``"restore": true`` (back to what the run started
with). The text form has one step a line, ``AT [up|down|both] restore | profile=NAME | FIELD=VALUE...``,
with ``#`` comments::

    10 rate_kbps=500
    20 down loss=0.05 jitter_ms=30
    30 restore

A burst in the text form is ``burst=P,R[,LOSS_BAD[,LOSS_GOOD]]`` in percent (as ``--burst``);
``burst=none`` clears it. Every other field is as in :class:`Impairment` (fractions: ``loss=0.05``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from hubbub.netsim.engine import Burst, Impairment
from hubbub.netsim.profiles import profile

DIRECTIONS = ("up", "down", "both")
_FIELDS = {f.name: f for f in fields(Impairment)}


@dataclass(frozen=True, slots=True)
class Step:
    at: float
    direction: str = "both"
    restore: bool = False
    profile: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)

    def apply(
        self, up: Impairment, down: Impairment, base: tuple[Impairment, Impairment]
    ) -> tuple[Impairment, Impairment]:
        """The (up, down) impairments after this step, from the current ones and the run's base."""
        new = []
        for i, (current, name) in enumerate(((up, "up"), (down, "down"))):
            if self.direction not in (name, "both"):
                new.append(current)
            elif self.restore:
                new.append(base[i])
            elif self.profile is not None:
                chosen = profile(self.profile)
                new.append(chosen.up if name == "up" else chosen.down)
            else:
                new.append(current.with_changes(**self.changes))
        return new[0], new[1]


def step_from_dict(raw: dict[str, Any]) -> Step:
    data = dict(raw)
    try:
        at = float(data.pop("at"))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"a step needs a number 'at' (seconds): {raw!r}") from None
    if at < 0:
        raise ValueError(f"a step's 'at' must not be negative: {raw!r}")
    direction = data.pop("direction", "both")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}: {raw!r}")
    restore = bool(data.pop("restore", False))
    name = data.pop("profile", None)
    if sum((restore, name is not None, bool(data))) != 1:
        raise ValueError(f"a step does one thing: restore, profile or field changes: {raw!r}")
    if name is not None:
        profile(str(name))  # unknown names fail here, not in the middle of a run
    if isinstance(data.get("burst"), dict):
        try:
            data["burst"] = Burst(**data["burst"])
        except TypeError:
            raise ValueError(f"a burst has p, r, loss_bad and loss_good: {raw!r}") from None
    step = Step(at, direction, restore, None if name is None else str(name), data)
    if data:
        Impairment().with_changes(**data)  # unknown fields and bad values fail here
    return step


def _value(key: str, text: str) -> Any:
    if key not in _FIELDS:
        raise ValueError(f"unknown impairment field {key!r}")
    if key == "burst":
        if text.lower() == "none":
            return None
        return Burst(*(float(x) / 100.0 for x in text.split(",")))  # percent, like --burst
    if key == "reorder":
        return text.lower() in ("1", "true", "yes", "on")
    if key == "queue_bytes":
        return int(text)
    return float(text)


def parse_line(line: str) -> Step | None:
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    raw: dict[str, Any] = {"at": words[0].removesuffix("s")}
    rest = words[1:]
    if rest and rest[0] in DIRECTIONS:
        raw["direction"] = rest.pop(0)
    for word in rest:
        if word == "restore":
            raw["restore"] = True
            continue
        key, sep, text = word.partition("=")
        if not sep:
            raise ValueError(f"expected FIELD=VALUE, restore or profile=NAME, not {word!r}")
        raw[key] = text if key == "profile" else _value(key, text)
    return step_from_dict(raw)


@dataclass(frozen=True, slots=True)
class Timeline:
    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str) -> Timeline:
        """A JSON list of steps, or the text form."""
        stripped = text.strip()
        if stripped.startswith("["):
            raw = json.loads(stripped)
            if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
                raise ValueError("a JSON timeline is a list of objects")
            steps = [step_from_dict(s) for s in raw]
        else:
            steps = []
            for number, line in enumerate(text.splitlines(), 1):
                try:
                    step = parse_line(line)
                except ValueError as exc:
                    raise ValueError(f"line {number}: {exc}") from None
                if step is not None:
                    steps.append(step)
        return cls(tuple(sorted(steps, key=lambda s: s.at)))

    def due(self, elapsed: float, done: int) -> list[Step]:
        """The steps not yet applied (the first ``done`` were) whose time has come."""
        return [s for s in self.steps[done:] if s.at <= elapsed]
