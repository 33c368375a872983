"""Request and response bodies of the REST API (strict: unknown fields and wrong types are errors)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignUp(Strict):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=1024)]
    name: Annotated[str, Field(max_length=100)] = ""


class SignIn(Strict):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=1024)]


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    created_at: float


class SessionOut(BaseModel):
    user: UserOut
    csrf_token: str
    expires_at: float | None = None


class ProjectCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    token_required: bool = True


class ProjectUpdate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    token_required: bool | None = None


class ProjectOut(BaseModel):
    app_id: str
    name: str
    token_required: bool
    insecure: bool = Field(description="True in testing mode: the App ID alone lets anyone join.")
    certificate_created_at: float
    previous_certificate_valid_until: float | None
    created_at: float
    updated_at: float


class ProjectWithCertificate(ProjectOut):
    app_certificate: str = Field(description="Shown once. Store it in your token server.")


class RotateCertificate(Strict):
    grace_seconds: Annotated[float, Field(ge=0, le=30 * 86_400)] | None = None


class ApiKeyCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    created_at: float
    last_used_at: float | None


class ApiKeyWithSecret(ApiKeyOut):
    api_key: str = Field(description="'<key_id>.<secret>', shown once. Send it as 'Authorization: Bearer ...'.")


class TokenCreate(Strict):
    user_id: Annotated[str, Field(min_length=1, max_length=255)]
    channel: Annotated[str, Field(min_length=1, max_length=64)] = "*"
    role: str = "host"
    expire: Annotated[int, Field(gt=0, le=7 * 86_400)] = 3600
    privileges: dict[str, Annotated[int, Field(gt=0, le=7 * 86_400)]] | list[str] | None = None


class TokenOut(BaseModel):
    token: str
    app_id: str
    user_id: str
    channel: str
    role: str
    expires_at: float
    privileges: dict[str, float]


class TokenVerify(Strict):
    token: Annotated[str, Field(max_length=8192)]
    channel: Annotated[str, Field(max_length=64)] | None = None
    require: list[str] = []


class UsageDayOut(BaseModel):
    day: dt.date
    audio_minutes: float
    video_minutes: float
    messages: int
    agent_minutes: float


class UsageOut(BaseModel):
    app_id: str
    start: dt.date
    end: dt.date
    days: list[UsageDayOut]
    totals: UsageDayOut | None = None
