"""Domain errors. The API maps each kind to one HTTP status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user can cause; `status` is its HTTP meaning."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthenticated(DomainError):
    status, code = 401, "unauthenticated"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Gone(DomainError):
    """It existed and was destroyed on purpose (a shredded subject's data)."""

    status, code = 410, "gone"


class Invalid(DomainError):
    """Input that fails validation; `details` names each field and reason."""

    status, code = 422, "invalid"

    @classmethod
    def field(cls, name: str, reason: str) -> Invalid:
        """One bad field: ``Invalid.field("limit", "not an integer")``."""
        return cls(f"{name}: {reason}", details=[{"field": name, "reason": reason}])
