"""Errors of the control plane. Each carries a stable ``code`` and the HTTP status the API maps it to."""

from __future__ import annotations


class ControlError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


class InvalidInput(ControlError):
    status = 422
    title = "Invalid input"


class Unauthorized(ControlError):
    status = 401
    title = "Unauthorized"


class Forbidden(ControlError):
    status = 403
    title = "Forbidden"


class NotFound(ControlError):
    status = 404
    title = "Not found"


class Conflict(ControlError):
    status = 409
    title = "Conflict"


class RateLimited(ControlError):
    status = 429
    title = "Too many requests"

    def __init__(self, code: str, detail: str, retry_after: float) -> None:
        super().__init__(code, detail, retry_after=max(1, int(retry_after + 0.999)))
        self.retry_after = max(1, int(retry_after + 0.999))
