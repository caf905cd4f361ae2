"""The one place where errors become HTTP responses.

Every 403 leaves an audit record. A use case's `Refusal` has already
written its own (after its rollback); any other 403 (a role check, a CSRF
failure, a plain ``Forbidden``) is recorded here, in a transaction of its own,
with the endpoint and the reason. If that record cannot be written the
client still gets the same 403 body, and the failure is logged.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from service.access.service import Actor
from service.audit.service import Event, Refusal, record_alone
from service.engine import DiagramError
from service.errors import DomainError, Forbidden

log = logging.getLogger("datasteward.api")


def error_body(status: int, code: str, message: str, details: list | None = None):
    body = {"error": {"code": code, "message": message, "details": details or []}}
    request_id = getattr(g, "request_id", None)
    if request_id:
        body["error"]["request_id"] = request_id
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        if isinstance(error, Forbidden) and not isinstance(error, Refusal):
            audit_forbidden(error.message)
        return error_body(error.status, error.code, error.message, error.details)

    @app.errorhandler(DiagramError)
    def _diagram(error: DiagramError):
        details = [p.as_dict() for p in error.problems]
        return error_body(422, "invalid_diagram", "the diagram is not valid", details)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        if error.code == 403:
            audit_forbidden(error.description or "forbidden")
        message = error.description or error.name
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        if error.code == 413 and limit:
            message = f"the request body is over the limit of {limit} bytes"
        return error_body(error.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Never a stack trace or internal detail to the client; the log has the request id.
        log.exception("unhandled error in request %s", getattr(g, "request_id", "-"))
        return error_body(500, "internal_error", "an internal error occurred")


def audit_forbidden(reason: str) -> None:
    """Record a 403 that no use case recorded: who, which endpoint, why."""
    view_args = request.view_args or {}
    event = Event(
        action="access.refused",
        outcome="refused",
        reason=reason[:500],
        case_id=_short(view_args.get("case_id")),
        task_id=_short(view_args.get("task_id")),
        detail={
            "endpoint": request.endpoint,
            "method": request.method,
            "rule": request.url_rule.rule if request.url_rule else None,
        },
    )
    try:
        record_alone(current_app.extensions["datasteward"], _caller(), event)
    except Exception:  # noqa: BLE001 - the 403 still goes out; the log keeps the failure
        log.exception("could not audit a 403 in request %s", getattr(g, "request_id", "-"))


def _caller() -> Actor:
    actor = getattr(g, "actor", None)
    if actor is not None:
        return actor
    return Actor(0, "anonymous", frozenset(), getattr(g, "request_id", None), request.remote_addr)


def _short(value: object) -> str | None:
    return str(value)[:36] if value is not None else None
