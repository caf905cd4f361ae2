"""HTTP hardening: security headers, cookie flags, CORS off, and the access gate.

The Content-Security-Policy allows only this origin: the UI's scripts and
bpmn-js are served from /static, nothing from a CDN. bpmn-js sets inline
style attributes on its SVG, hence 'unsafe-inline' for styles only (never
for scripts).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.wrappers import Response

from service.access.gate import record_refusal
from service.api.auth import anonymous_actor, deps, register_access_control
from service.config import Settings
from service.errors import Forbidden

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=31536000; includeSubDomains"
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def register_http_hardening(app: Flask) -> None:
    settings: Settings = app.extensions["datasteward"].settings
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_NAME="datasteward_session",
        PERMANENT_SESSION_LIFETIME=settings.token_ttl_hours * 3600,
    )
    app.before_request(_refuse_cross_origin_writes)
    register_access_control(app)
    app.after_request(_security_headers(settings.is_production))


def _refuse_cross_origin_writes() -> None:
    """CORS is off: a write sent from another site's page is refused outright."""
    origin = request.headers.get("Origin")
    if request.method not in UNSAFE_METHODS or not origin:
        return
    if urlsplit(origin).netloc != request.host:
        reason = f"cross-origin requests are not accepted (from {origin[:100]})"
        endpoint = request.endpoint or request.path[:100]
        record_refusal(deps(), anonymous_actor(), "access.cross_origin", endpoint, reason)
        raise Forbidden(reason)


def _security_headers(production: bool) -> Callable[[Response], Response]:
    def add(response: Response) -> Response:
        for name in CORS_HEADERS:
            response.headers.pop(name, None)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if production or request.is_secure:
            response.headers["Strict-Transport-Security"] = HSTS
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return add
