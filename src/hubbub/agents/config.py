"""An agent's configuration, validated with clear errors (``field: message``).

>>> cfg = parse_config({"channel": "room1", "listen_to": ["alice"], "greeting": "Hi!"})

Providers are ``{"name": ..., **options}``; ``scripted`` and ``energy`` (VAD) are built in, every
other name goes to :mod:`hubbub.agents.providers.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hubbub.agents.providers.base import LLM, STT, TTS, VAD
from hubbub.control.errors import InvalidInput
from hubbub.schema.tokens import is_valid_channel, is_valid_user_id

if TYPE_CHECKING:
    from hubbub.agents.turn import SemanticTurnDetector


class AgentConfigError(InvalidInput, ValueError):
    """The config is malformed; ``errors`` lists ``{"field", "message"}``.

    The API answers it as ``422 invalid_agent_config`` with the message and the errors.
    """

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        self.message = message
        self.errors = errors or []
        super().__init__("invalid_agent_config", message, errors=self.errors)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderSpec(BaseModel):
    """A provider by name; every other key is an option for it (model, url, voice, timeout...)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ProvidersConfig(_Strict):
    vad: ProviderSpec = ProviderSpec(name="silero")
    stt: ProviderSpec = ProviderSpec(name="whisper")
    llm: ProviderSpec = ProviderSpec(name="llama")
    tts: ProviderSpec = ProviderSpec(name="espeak")


class InterruptionConfig(_Strict):
    mode: Literal["speech", "keywords", "off"] = "speech"
    min_speech_ms: int = Field(default=160, ge=20, le=5000)
    keywords: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _keywords_for_keyword_mode(self) -> InterruptionConfig:
        if self.mode == "keywords" and not any(k.strip() for k in self.keywords):
            raise ValueError("mode 'keywords' needs at least one keyword")
        return self


class TurnConfig(_Strict):
    silence_ms: int = Field(default=500, ge=100, le=10_000, description="silence that ends the user's turn")
    start_ms: int = Field(default=60, ge=20, le=1000, description="voiced audio that starts a speech segment")
    max_turn_s: float = Field(default=30.0, gt=1, le=600, description="a longer turn is cut and answered")
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    preroll_ms: int = Field(default=300, ge=0, le=2000)
    interim_s: float = Field(default=1.0, ge=0, le=10, description="interim transcript period (0: none)")
    semantic_wait_s: float = Field(default=1.0, ge=0, le=10)


class AgentConfig(_Strict):
    channel: str
    identity: str = Field(default="agent", description="the agent's user id in the channel")
    name: str = Field(default="", max_length=64)
    listen_to: list[str] = Field(default_factory=list, max_length=32, description="empty: any non-agent user")
    system_prompt: str = Field(
        default="You are a friendly voice assistant. Answer in one or two short sentences.", max_length=20_000
    )
    greeting: str = Field(default="", max_length=2000)
    fallback_line: str = Field(default="Sorry, I'm having trouble answering right now.", max_length=2000)
    language: str | None = Field(default=None, max_length=16)
    providers: ProvidersConfig = Field(default_factory=ProvidersConfig)
    interruption: InterruptionConfig = Field(default_factory=InterruptionConfig)
    turn: TurnConfig = Field(default_factory=TurnConfig)
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=256, ge=1, le=8192)
    max_history_messages: int = Field(default=40, ge=2, le=1000)
    idle_timeout_s: float = Field(
        default=300.0, ge=0, le=86_400, description="stop after this long with no speech (0: never)"
    )
    end_when_users_leave: bool = True
    metadata: dict[str, str] = Field(default_factory=dict, max_length=32)

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v == "*" or not is_valid_channel(v):
            raise ValueError("a channel name: 1 to 64 letters, digits, space or !#$%&()+-:;<=.>?@[]^_{|}~,")
        return v

    @field_validator("identity")
    @classmethod
    def _identity(cls, v: str) -> str:
        if not is_valid_user_id(v):
            raise ValueError("a user id: 1 to 255 printable characters")
        return v

    @field_validator("listen_to")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        bad = [u for u in v if not is_valid_user_id(u)]
        if bad:
            raise ValueError(f"invalid user id {bad[0]!r}")
        return v

    @model_validator(mode="after")
    def _not_self(self) -> AgentConfig:
        if self.identity in self.listen_to:
            raise ValueError("an agent cannot listen to itself ('identity' is in 'listen_to')")
        return self


def parse_config(data: object) -> AgentConfig:
    """Validate ``data`` (a mapping) or raise :class:`AgentConfigError` naming each bad field."""
    if isinstance(data, AgentConfig):
        return data
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "(config)",
                "message": str(e["msg"]).removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise AgentConfigError(f"invalid agent config: {summary}", errors) from None


@dataclass(slots=True)
class Providers:
    vad: VAD
    stt: STT
    llm: LLM
    tts: TTS
    semantic: SemanticTurnDetector | None = None


def _scripted(kind: str, options: dict[str, Any]) -> object:
    from hubbub.agents.providers import scripted

    cls = {
        "vad": scripted.EnergyVAD,
        "stt": scripted.ScriptedSTT,
        "llm": scripted.ScriptedLLM,
        "tts": scripted.ScriptedTTS,
    }
    return cls[kind](**options)


def build_provider(kind: str, spec: ProviderSpec) -> object:
    """One provider from its spec: built-in fakes by name, everything else through the registry.

    Raises :class:`AgentConfigError` for an unknown name, bad options or a provider that cannot
    start here (a missing package or model): the agent is refused before it joins. The message
    says it once, with what to install and what to configure instead.
    """
    from hubbub.agents.providers import registry

    options = spec.options
    field = f"providers.{kind}"
    try:
        if spec.name == "scripted" or (kind == "vad" and spec.name == "energy"):
            return _scripted(kind, options)
        build = getattr(registry, f"build_{kind}")
        return build({"name": spec.name, **options})
    except AgentConfigError:
        raise
    except registry.ProviderUnavailableError as exc:
        message = f"{exc.provider!r} cannot run here: {exc.reason}; {registry.alternative(exc.kind)}"
        raise _field_error(field, message) from None
    except TypeError as exc:
        raise _field_error(field, f"bad options for {spec.name!r}: {exc}") from None
    except ImportError as exc:
        raise _field_error(field, f"{spec.name!r} cannot run here: {exc}") from None
    except Exception as exc:
        raise _field_error(field, f"cannot start {spec.name!r}: {exc}") from None


def _field_error(field: str, message: str) -> AgentConfigError:
    return AgentConfigError(f"{field}: {message}", [{"field": field, "message": message}])


def build_providers(config: AgentConfig) -> Providers:
    p = config.providers
    built: dict[str, object] = {}
    errors: list[dict[str, str]] = []
    for kind in ("vad", "stt", "llm", "tts"):  # every provider that cannot start is named, each once
        try:
            built[kind] = build_provider(kind, getattr(p, kind))
        except AgentConfigError as exc:
            errors.extend(exc.errors or [{"field": f"providers.{kind}", "message": exc.message}])
    if errors:
        raise AgentConfigError("\n".join(f"{e['field']}: {e['message']}" for e in errors), errors)  # one a line
    vad = built["vad"]
    if isinstance(vad, VAD) and vad.capabilities.sample_rate != 16_000:
        raise AgentConfigError(f"providers.vad: {p.vad.name!r} runs at {vad.capabilities.sample_rate} Hz; 16000 needed")
    return Providers(built["vad"], built["stt"], built["llm"], built["tts"])  # type: ignore[arg-type]
