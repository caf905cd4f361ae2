"""The one place where errors become HTTP responses."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify
from werkzeug.exceptions import HTTPException

from service.engine import DiagramError
from service.errors import DomainError

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
        return error_body(error.status, error.code, error.message, error.details)

    @app.errorhandler(DiagramError)
    def _diagram(error: DiagramError):
        details = [p.as_dict() for p in error.problems]
        return error_body(422, "invalid_diagram", "the diagram is not valid", details)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        return error_body(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Never a stack trace or internal detail to the client; the log has the request id.
        log.exception("unhandled error in request %s", getattr(g, "request_id", "-"))
        return error_body(500, "internal_error", "an internal error occurred")
