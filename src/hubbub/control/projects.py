"""Projects: App ID (public), App Certificate (secret, shown once, rotatable), auth mode.

Isolation rule: every read or change goes through :meth:`Projects.get_for`, which answers
``project_not_found`` for projects the principal cannot see, whether or not they exist.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hubbub.control.context import ApiKeyPrincipal, ControlContext, Principal, UserPrincipal
from hubbub.control.errors import Conflict, Forbidden, InvalidInput, NotFound
from hubbub.control.tokens import AppKeys
from hubbub.storage.models import Project

log = logging.getLogger("hubbub.projects")

MAX_NAME = 100
# Format characters that real names need: emoji ZWJ sequences and scripts such as Persian (ZWNJ).
_JOINERS = frozenset({"\u200c", "\u200d"})


@dataclass(frozen=True, slots=True)
class ProjectView:
    app_id: str
    name: str
    token_required: bool
    certificate_created_at: float
    previous_certificate_valid_until: float | None
    created_at: float
    updated_at: float

    @property
    def insecure(self) -> bool:
        """Testing mode (App ID only): anyone who knows the App ID can join its channels."""
        return not self.token_required


def _view(p: Project) -> ProjectView:
    return ProjectView(
        app_id=p.app_id,
        name=p.name,
        token_required=p.token_required,
        certificate_created_at=p.certificate_created_at,
        previous_certificate_valid_until=p.previous_valid_until,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def clean_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise InvalidInput("invalid_name", "A project name cannot be empty.")
    if len(name) > MAX_NAME:
        raise InvalidInput("invalid_name", f"A project name has at most {MAX_NAME} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch not in _JOINERS for ch in name):
        raise InvalidInput("invalid_name", "A project name cannot contain control characters.")
    return name


def new_certificate() -> str:
    return secrets.token_hex(16)


class Projects:
    def __init__(self, ctx: ControlContext) -> None:
        self.ctx = ctx

    async def create(self, principal: Principal, name: str, token_required: bool = True) -> tuple[ProjectView, str]:
        """Create a project; returns it with its App Certificate, which is never shown again."""
        if not isinstance(principal, UserPrincipal):
            raise Forbidden("forbidden", "API keys cannot create projects; sign in to the console.")
        name = clean_name(name)
        certificate = new_certificate()
        now = self.ctx.clock()
        project = Project(
            app_id=uuid.uuid4().hex,
            owner_id=principal.user_id,
            name=name,
            token_required=token_required,
            certificate_enc=self.ctx.box.seal(certificate),
            certificate_created_at=now,
            created_at=now,
            updated_at=now,
        )
        async with self.ctx.db() as db:
            db.add(project)
            try:
                await db.commit()
            except IntegrityError:
                raise Conflict("project_name_taken", f"You already have a project named {name!r}.") from None
        if not token_required:
            log.warning("project in testing mode (App ID only, insecure)", extra={"app_id": project.app_id})
        return _view(project), certificate

    async def list_for(self, principal: Principal) -> list[ProjectView]:
        async with self.ctx.db() as db:
            query = select(Project).order_by(Project.created_at, Project.id)
            if isinstance(principal, UserPrincipal):
                query = query.where(Project.owner_id == principal.user_id)
            else:
                query = query.where(Project.id == principal.project_id)
            return [_view(p) for p in (await db.execute(query)).scalars()]

    async def _load(self, db: AsyncSession, principal: Principal, app_id: str) -> Project:
        project = (await db.execute(select(Project).where(Project.app_id == app_id))).scalar_one_or_none()
        visible = project is not None and (
            (isinstance(principal, UserPrincipal) and project.owner_id == principal.user_id)
            or (isinstance(principal, ApiKeyPrincipal) and project.id == principal.project_id)
        )
        if not visible or project is None:
            raise NotFound("project_not_found", f"No project with App ID {app_id!r} is visible to you.")
        return project

    async def get_for(self, principal: Principal, app_id: str) -> ProjectView:
        async with self.ctx.db() as db:
            return _view(await self._load(db, principal, app_id))

    async def project_id_for(self, principal: Principal, app_id: str) -> int:
        async with self.ctx.db() as db:
            return (await self._load(db, principal, app_id)).id

    async def update(
        self, principal: Principal, app_id: str, *, name: str | None = None, token_required: bool | None = None
    ) -> ProjectView:
        async with self.ctx.db() as db:
            project = await self._load(db, principal, app_id)
            if name is not None:
                project.name = clean_name(name)
            if token_required is not None:
                if not isinstance(principal, UserPrincipal):
                    raise Forbidden("forbidden", "Only the project's owner can change its auth mode.")
                project.token_required = token_required
                if not token_required:
                    log.warning("project switched to testing mode (insecure)", extra={"app_id": app_id})
            project.updated_at = self.ctx.clock()
            try:
                await db.commit()
            except IntegrityError:
                raise Conflict("project_name_taken", f"You already have a project named {name!r}.") from None
            return _view(project)

    async def delete(self, principal: Principal, app_id: str) -> None:
        async with self.ctx.db() as db:
            project = await self._load(db, principal, app_id)  # invisible projects: 404 before 403
            if not isinstance(principal, UserPrincipal):
                raise Forbidden("forbidden", "API keys cannot delete projects; sign in to the console.")
            await db.delete(project)
            await db.commit()

    async def rotate_certificate(
        self, principal: Principal, app_id: str, grace_s: float | None = None
    ) -> tuple[ProjectView, str]:
        """A new App Certificate; the old one keeps verifying tokens for ``grace_s`` seconds."""
        grace = self.ctx.settings.certificate_grace_s if grace_s is None else grace_s
        async with self.ctx.db() as db:
            project = await self._load(db, principal, app_id)  # invisible projects: 404 before 403
            if not isinstance(principal, UserPrincipal):
                raise Forbidden("forbidden", "Only the project's owner can rotate its App Certificate.")
            if not 0 <= grace <= 30 * 86_400:
                raise InvalidInput("invalid_grace", "The grace period is 0 to 30 days, in seconds.")
            certificate = new_certificate()
            now = self.ctx.clock()
            project.previous_certificate_enc = project.certificate_enc if grace > 0 else None
            project.previous_valid_until = now + grace if grace > 0 else None
            project.certificate_enc = self.ctx.box.seal(certificate)
            project.certificate_created_at = now
            project.updated_at = now
            await db.commit()
            return _view(project), certificate

    async def project_id_of(self, app_id: str) -> int | None:
        """The internal id behind an App ID, for metering (no access check: callers are the server)."""
        async with self.ctx.db() as db:
            found = await db.execute(select(Project.id).where(Project.app_id == app_id))
            return found.scalar_one_or_none()

    async def app_keys(self, app_id: str) -> AppKeys | None:
        """What the token verifier needs for one App ID (None when no such project exists)."""
        if not app_id or len(app_id) > 64:
            return None
        async with self.ctx.db() as db:
            p = (await db.execute(select(Project).where(Project.app_id == app_id))).scalar_one_or_none()
        if p is None:
            return None
        previous = None
        if p.previous_certificate_enc is not None and p.previous_valid_until is not None:
            previous = self.ctx.box.open(p.previous_certificate_enc)
        return AppKeys(
            app_id=p.app_id,
            certificate=self.ctx.box.open(p.certificate_enc),
            previous_certificate=previous,
            previous_valid_until=p.previous_valid_until if previous else None,
            token_required=p.token_required,
        )
