"""Which agent providers can run here, and how to enable the rest: ``hubbub agent providers``.

Cheap (nothing is imported or loaded), so ``scripts/serve.sh`` prints it at every start::

    KIND  PROVIDER  STATUS     NOTE
    llm   llama     available  SmolLM2-135M-Instruct on llama.cpp (embedded): a smoke test, not an assistant
    llm   openai    available  OpenAI-compatible streaming /chat/completions ...
"""

from __future__ import annotations

from dataclasses import dataclass

from . import registry

# What an available provider still needs, beyond being installed.
_NEEDS: dict[tuple[str, str], str] = {
    ("llm", "llama"): "use openai for real conversations",
    ("llm", "openai"): "set base_url and model: " + registry.LLM_ENDPOINT_EXAMPLE,
    ("stt", "openai"): "set base_url (and api_key_env for a hosted API)",
    ("tts", "openai"): "set base_url (and api_key_env for a hosted API)",
}


@dataclass(frozen=True, slots=True)
class Row:
    kind: str
    provider: str
    default: bool
    available: bool
    description: str
    note: str  # why not and the fix, or what it still needs

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "provider": self.provider,
            "default": self.default,
            "available": self.available,
            "description": self.description,
            "note": self.note,
        }


def rows(*, fakes: bool = False) -> list[Row]:
    """One row per provider, VAD, STT, LLM, TTS in that order (test fakes only with ``fakes``)."""
    out = []
    for kind in registry.KINDS:
        for info in registry.describe():
            if info.kind != kind or (info.name in ("scripted", "energy") and not fakes):
                continue
            note = info.reason if not info.available else _NEEDS.get((kind, info.name), "")
            default = registry.DEFAULTS[kind] == info.name
            out.append(Row(kind, info.name, default, info.available, info.description, note))
    return out


def table(items: list[Row] | None = None) -> str:
    """A plain-text table for a terminal."""
    items = rows() if items is None else items
    lines = [("KIND", "PROVIDER", "STATUS", "WHAT; HOW TO ENABLE")]
    for r in items:
        detail = f"{r.description}; {r.note}" if r.note else r.description
        status = "available" if r.available else "MISSING"
        lines.append((r.kind, r.provider + (" *" if r.default else ""), status, detail))
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    body = "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(line[:3], widths, strict=True)), line[3]]) for line in lines
    )
    hint = registry.alternative("llm").removeprefix("or, ")
    return f"{body}\n* the default of its kind. {hint[0].upper()}{hint[1:]}."
