"""REST for real-time messaging: server-side sends, history, presence, moderation, attachments, webhooks.

Project routes (``/api/v1/projects/{app_id}/rtm/...`` and ``.../webhooks``) take a console session
or an API key, like every project route. End users upload and fetch attachments with their RTM
token instead (``/api/v1/rtm/attachments``, header ``X-Hubbub-Token`` or ``?token=``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from hubbub.api import problems
from hubbub.api.deps import PrincipalDep, ServicesDep
from hubbub.api.schemas import Strict
from hubbub.control.admission import Admission
from hubbub.control.tokens import TokenError, unverified_app_id, verify_app_only, verify_token
from hubbub.control.webhooks import Webhooks
from hubbub.messaging.attachments import AttachmentInfo, AttachmentService
from hubbub.messaging.service import MessagingService
from hubbub.messaging.types import Grant, MessagingError, NewMessage
from hubbub.schema import messaging as rtm
from hubbub.schema.tokens import WILDCARD_CHANNEL, Privilege

API_PREFIX = "/api/v1"
TOKEN_HEADER = "x-hubbub-token"

_STATUS = {
    "rate_limited": 429,
    "payload_too_large": 413,
    "banned": 403,
    "muted": 403,
    "permission_denied": 403,
    "rejected": 422,
    "message_not_found": 404,
    "attachment_not_found": 404,
    "not_subscribed": 409,
    "server_error": 500,
}


class TokenRtmAdmission:
    """:class:`hubbub.messaging.types.RtmAdmission` over the project keys that admission caches."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission

    async def admit_rtm(self, *, token: str, app_id: str = "", user_id: str = "") -> Grant:
        ctx = self.admission.ctx
        try:
            if token:
                keys = await self.admission.keys(unverified_app_id(token))
                return verify_token(
                    token,
                    lookup=lambda _app: keys,
                    now=ctx.clock(),
                    leeway=ctx.settings.token_leeway_s,
                    expected_app_id=app_id or None,
                    require=(Privilege.rtm_login,),
                )
            if not app_id:
                raise MessagingError("token_required", "send a token (or an App ID in testing mode)")
            keys = await self.admission.keys(app_id)
            return verify_app_only(app_id, user_id, WILDCARD_CHANNEL, lambda _a: keys, ctx.clock())
        except TokenError as exc:
            raise MessagingError(exc.code.value, exc.message) from None


@dataclass(slots=True)
class MessagingApi:
    service: MessagingService
    webhooks: Webhooks
    attachments: AttachmentService
    admission: TokenRtmAdmission


def _api(request: Request) -> MessagingApi:
    api: MessagingApi = request.app.state.messaging
    return api


ApiDep = Annotated[MessagingApi, Depends(_api)]


async def _project(svc: ServicesDep, who: PrincipalDep, app_id: str) -> str:
    await svc.projects.project_id_for(who, app_id)  # project_not_found for projects the caller cannot see
    return app_id


ProjectDep = Annotated[str, Depends(_project)]

# --- bodies ------------------------------------------------------------------------------------


class SendIn(Strict):
    sender: Annotated[str, Field(min_length=1, max_length=255)] = "system"
    text: str | None = None
    data: Any = None
    attachments: Annotated[list[str], Field(max_length=10)] = []
    client_msg_id: Annotated[str, Field(max_length=64)] = ""

    def message(self, app_id: str) -> NewMessage:
        return NewMessage(
            app_id,
            self.sender,
            text=self.text,
            data=self.data,
            attachments=tuple(self.attachments),
            client_msg_id=self.client_msg_id,
        )


class AckOut(BaseModel):
    id: str
    seq: int
    ts: float
    channel: str = ""
    to: str = ""
    duplicate: bool = False


class MessageOut(BaseModel):
    id: str
    channel: str
    seq: int
    sender: str
    ts: float
    text: str | None = None
    data: Any = None
    attachments: list[str] = []
    client_msg_id: str = ""
    deleted: bool = False


class HistoryOut(BaseModel):
    channel: str
    messages: list[MessageOut]
    has_more: bool


class MemberOut(BaseModel):
    user_id: str
    attrs: dict[str, str]


class ModerationIn(Strict):
    duration_s: Annotated[float | None, Field(gt=0, le=365 * 86_400)] = None


class ModerationOut(BaseModel):
    user_id: str
    action: str
    until: float | None


class AttachmentOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    width: int
    height: int
    has_thumbnail: bool
    created_at: float


class WebhookIn(Strict):
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    events: Annotated[list[str], Field(max_length=32)] = []
    kind: str = "events"
    timeout_ms: int = 5000
    fail_open: bool = True


class WebhookOut(BaseModel):
    id: int
    kind: str
    url: str
    events: list[str]
    timeout_ms: int
    fail_open: bool
    created_at: float
    secret: str | None = None


class DeliveryOut(BaseModel):
    id: int
    event: str
    status: str
    attempts: int
    next_attempt_at: float
    created_at: float
    delivered_at: float | None
    last_error: str | None


def _ack(a: rtm.Ack) -> AckOut:
    return AckOut(id=a.id, seq=a.seq, ts=a.ts, channel=a.channel, to=a.to, duplicate=a.duplicate)


def _msg(m: rtm.Message) -> MessageOut:
    return MessageOut(
        id=m.id,
        channel=m.channel,
        seq=m.seq,
        sender=m.sender,
        ts=m.ts,
        text=m.text,
        data=m.data,
        attachments=m.attachments,
        client_msg_id=m.client_msg_id,
        deleted=m.deleted,
    )


def _att(a: AttachmentInfo) -> AttachmentOut:
    return AttachmentOut(
        id=a.id,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        sha256=a.sha256,
        width=a.width,
        height=a.height,
        has_thumbnail=a.has_thumbnail,
        created_at=a.created_at,
    )


# --- project routes ----------------------------------------------------------------------------

router = APIRouter(tags=["messaging"])
P = "/projects/{app_id}"
CH = P + "/rtm/channels/{channel}"


@router.post(CH + "/messages", status_code=201, response_model=AckOut, summary="Send a channel message")
async def send_channel(channel: str, body: SendIn, app_id: ProjectDep, api: ApiDep) -> AckOut:
    return _ack(await api.service.send(None, channel, body.message(app_id)))


@router.get(CH + "/messages", response_model=HistoryOut, summary="A page of a channel's history, oldest first")
async def history(
    channel: str,
    app_id: ProjectDep,
    api: ApiDep,
    after_seq: int | None = None,
    before_seq: int | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: Annotated[int, Query(ge=1, le=rtm.MAX_HISTORY_PAGE)] = 50,
) -> HistoryOut:
    req = rtm.History(
        channel=channel, after_seq=after_seq, before_seq=before_seq, since_ts=since, until_ts=until, limit=limit
    )
    page = await api.service.history(None, app_id, req)
    return HistoryOut(channel=channel, messages=[_msg(m) for m in page.messages], has_more=page.has_more)


@router.delete(CH + "/messages/{message_id}", response_model=MessageOut, summary="Delete a message (tombstone)")
async def delete_message(channel: str, message_id: str, app_id: ProjectDep, api: ApiDep) -> MessageOut:
    return _msg(await api.service.delete_message(None, app_id, channel, message_id))


@router.post(P + "/rtm/peers/{user_id}/messages", status_code=201, response_model=AckOut, summary="Send a peer message")
async def send_peer(user_id: str, body: SendIn, app_id: ProjectDep, api: ApiDep) -> AckOut:
    return _ack(await api.service.send_peer(None, user_id, body.message(app_id)))


@router.get(CH + "/presence", response_model=list[MemberOut], summary="Who is online in a channel")
async def presence(channel: str, app_id: ProjectDep, api: ApiDep) -> list[MemberOut]:
    await api.service.hub(app_id, channel)
    return [MemberOut(user_id=m.user_id, attrs=m.attrs) for m in api.service.members(app_id, channel)]


@router.get(P + "/rtm/users/{user_id}/unread", response_model=dict[str, int], summary="Unread counts per channel")
async def unread(
    user_id: str, app_id: ProjectDep, api: ApiDep, channel: Annotated[list[str], Query()]
) -> dict[str, int]:
    return await api.service.unread(app_id, user_id, channel)


async def _moderate(api: MessagingApi, app_id: str, channel: str, user_id: str, action: str, body: Any) -> Response:
    active = body is not None
    duration = body.duration_s if body is not None else None
    await api.service.moderate(app_id, channel, user_id, action, active=active, duration_s=duration)
    return Response(status_code=204)


@router.put(CH + "/bans/{user_id}", status_code=204, summary="Ban a user from a channel")
async def ban(
    channel: str, user_id: str, app_id: ProjectDep, api: ApiDep, body: ModerationIn | None = None
) -> Response:
    return await _moderate(api, app_id, channel, user_id, "ban", body or ModerationIn())


@router.delete(CH + "/bans/{user_id}", status_code=204, summary="Lift a ban")
async def unban(channel: str, user_id: str, app_id: ProjectDep, api: ApiDep) -> Response:
    return await _moderate(api, app_id, channel, user_id, "ban", None)


@router.put(CH + "/mutes/{user_id}", status_code=204, summary="Mute a user in a channel")
async def mute(
    channel: str, user_id: str, app_id: ProjectDep, api: ApiDep, body: ModerationIn | None = None
) -> Response:
    return await _moderate(api, app_id, channel, user_id, "mute", body or ModerationIn())


@router.delete(CH + "/mutes/{user_id}", status_code=204, summary="Lift a mute")
async def unmute(channel: str, user_id: str, app_id: ProjectDep, api: ApiDep) -> Response:
    return await _moderate(api, app_id, channel, user_id, "mute", None)


@router.get(CH + "/moderation", response_model=list[ModerationOut], summary="Active bans and mutes")
async def moderation(channel: str, app_id: ProjectDep, api: ApiDep) -> list[ModerationOut]:
    rows = await api.service.moderation_list(app_id, channel)
    return [ModerationOut(user_id=u, action=a, until=t) for u, a, t in rows]


@router.post(P + "/rtm/attachments", status_code=201, response_model=AttachmentOut, summary="Upload an attachment")
async def upload_server(request: Request, app_id: ProjectDep, api: ApiDep, filename: str = "file") -> AttachmentOut:
    ctype = request.headers.get("content-type", "application/octet-stream")
    info = await api.attachments.upload(app_id, "system", filename, ctype, await request.body())
    return _att(info)


@router.get(P + "/rtm/attachments/{attachment_id}", summary="Download an attachment")
async def download_server(attachment_id: str, app_id: ProjectDep, api: ApiDep, thumbnail: bool = False) -> Response:
    return await _download(api, app_id, attachment_id, thumbnail)


@router.post(P + "/webhooks", status_code=201, response_model=WebhookOut, summary="Add a webhook endpoint")
async def create_webhook(body: WebhookIn, app_id: str, who: PrincipalDep, api: ApiDep) -> WebhookOut:
    view, secret = await api.webhooks.create_endpoint(
        who,
        app_id,
        body.url,
        events=body.events,
        kind=body.kind,
        timeout_ms=body.timeout_ms,
        fail_open=body.fail_open,
    )
    return WebhookOut(**{k: getattr(view, k) for k in WebhookOut.model_fields if k != "secret"}, secret=secret)


@router.get(P + "/webhooks", response_model=list[WebhookOut], summary="Webhook endpoints")
async def list_webhooks(app_id: str, who: PrincipalDep, api: ApiDep) -> list[WebhookOut]:
    views = await api.webhooks.list_endpoints(who, app_id)
    return [WebhookOut(**{k: getattr(v, k) for k in WebhookOut.model_fields if k != "secret"}) for v in views]


@router.delete(P + "/webhooks/{endpoint_id}", status_code=204, summary="Remove a webhook endpoint")
async def delete_webhook(endpoint_id: int, app_id: str, who: PrincipalDep, api: ApiDep) -> Response:
    await api.webhooks.delete_endpoint(who, app_id, endpoint_id)
    return Response(status_code=204)


@router.get(P + "/webhooks/{endpoint_id}/deliveries", response_model=list[DeliveryOut], summary="Recent deliveries")
async def deliveries(endpoint_id: int, app_id: str, who: PrincipalDep, api: ApiDep) -> list[DeliveryOut]:
    rows = await api.webhooks.deliveries(who, app_id, endpoint_id)
    return [DeliveryOut(**{k: getattr(r, k) for k in DeliveryOut.model_fields}) for r in rows]


# --- end-user routes (RTM token) ---------------------------------------------------------------


async def _user(request: Request, api: MessagingApi, privilege: Privilege) -> Grant:
    token = request.headers.get(TOKEN_HEADER) or request.query_params.get("token", "")
    grant = await api.admission.admit_rtm(token=token)
    expiry = grant.privileges.get(privilege)
    if expiry is None or expiry < api.service.clock():
        raise MessagingError("token_privilege_missing", f"the token does not grant {privilege.value}")
    return grant


@router.post("/rtm/attachments", status_code=201, response_model=AttachmentOut, summary="Upload (RTM token)")
async def upload_client(request: Request, api: ApiDep, filename: str = "file") -> AttachmentOut:
    grant = await _user(request, api, Privilege.publish_data)
    ctype = request.headers.get("content-type", "application/octet-stream")
    info = await api.attachments.upload(grant.app_id, grant.user_id, filename, ctype, await request.body())
    return _att(info)


@router.get("/rtm/attachments/{attachment_id}", summary="Download (RTM token)")
async def download_client(request: Request, attachment_id: str, api: ApiDep, thumbnail: bool = False) -> Response:
    grant = await _user(request, api, Privilege.rtm_login)
    return await _download(api, grant.app_id, attachment_id, thumbnail)


async def _download(api: MessagingApi, app_id: str, attachment_id: str, thumb: bool) -> Response:
    info = await api.attachments.get(app_id, attachment_id)
    try:
        data, ctype = await api.attachments.read(info, thumb=thumb)
    except KeyError:
        raise MessagingError("attachment_not_found", "the attachment's content is gone") from None
    disposition = "inline" if ctype.startswith("image/") else "attachment"
    headers = {
        "content-disposition": f'{disposition}; filename="{info.filename.encode("ascii", "replace").decode()}"',
        "x-content-type-options": "nosniff",
        "cache-control": "private, max-age=86400",
    }
    return Response(data, media_type=ctype, headers=headers)


# --- wiring ------------------------------------------------------------------------------------


def _status(code: str) -> int:
    if code in _STATUS:
        return _STATUS[code]
    if code.startswith("token_"):
        return 401 if code in ("token_required", "token_malformed", "token_bad_signature", "token_expired") else 403
    return 422


def include_messaging(
    app: FastAPI,
    service: MessagingService,
    webhooks: Webhooks,
    attachments: AttachmentService,
    admission: TokenRtmAdmission,
) -> None:
    """Add the messaging and webhook routes under ``/api/v1`` and map messaging errors to problems."""
    app.state.messaging = MessagingApi(service, webhooks, attachments, admission)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(router)
    app.include_router(api)

    async def _problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, MessagingError)
        status = _status(exc.code)
        extra: dict[str, Any] = {}
        headers = None
        if exc.retry_after is not None:
            extra["retry_after"] = exc.retry_after
            headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
        title = "Too many requests" if status == 429 else "Messaging request refused"
        return problems.problem(
            status, exc.code, title, exc.message, instance=request.url.path, headers=headers, **extra
        )

    app.add_exception_handler(MessagingError, _problem)
