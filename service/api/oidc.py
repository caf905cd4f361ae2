"""OpenID Connect login for browsers: send the person to the IdP, take them back in.

`GET /api/v1/auth/oidc/login` redirects to the provider; the provider redirects to
`GET /api/v1/auth/oidc/callback`, which (service/access/oidc.py) checks everything
and opens the same browser session as the login form. 404 when not configured.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, current_app, redirect, request, session, url_for
from werkzeug.wrappers import Response

from service.access.oidc import OidcSettings, PendingLogin, begin_login, finish_login
from service.api.auth import anonymous_actor, deps, start_browser_session
from service.api.openapi import op
from service.errors import DomainError, NotFound

blueprint = oidc = Blueprint("oidc", __name__, url_prefix="/api/v1/auth/oidc")
PENDING = "oidc_pending"


@oidc.app_context_processor
def login_options() -> dict[str, Any]:
    """Tell the login page whether to offer "Log in with <provider>"."""
    datasteward = current_app.extensions.get("datasteward")
    config = OidcSettings.of(datasteward.settings) if datasteward else None
    return {"oidc_provider": config.provider_name if config else None}


@oidc.get("/login")
def start() -> Response:
    config = _configured()
    redirect_uri = config.redirect_uri or url_for("oidc.callback", _external=True)
    url, pending = begin_login(config, redirect_uri)
    session[PENDING] = asdict(pending) | {"next": _safe_next(request.args.get("next"))}
    return redirect(url)


@oidc.get("/callback")
def callback() -> Any:
    config = _configured()
    kept = session.pop(PENDING, None)
    pending = PendingLogin(**{k: v for k, v in kept.items() if k != "next"}) if kept else None
    try:
        result = finish_login(deps(), anonymous_actor(), config, pending, request.args)
    except DomainError as refusal:
        if _wants_html():
            return _login_page_with(refusal)
        raise
    start_browser_session(result)
    return redirect((kept or {}).get("next") or url_for("web.tasks"))


def _configured() -> OidcSettings:
    config = OidcSettings.of(deps().settings)
    if config is None:
        raise NotFound("OpenID Connect login is not configured")
    return config


def _safe_next(target: str | None) -> str | None:
    # Only paths on this site: never an open redirect to another host.
    if target and target.startswith("/") and not target.startswith("//"):
        return target[:500]
    return None


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _login_page_with(refusal: DomainError) -> tuple[str, int]:
    from service.web.views import render

    page = render("login.html", error="login.oidc_failed", error_detail=refusal.message)
    return page, refusal.status


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/auth/oidc/login": {
        "get": op(
            "Browser login through the OpenID Connect provider: redirects to it",
            auth=False,
            ok=302,
            errors=(404, 502),
        )
    },
    "/api/v1/auth/oidc/callback": {
        "get": op(
            "Where the provider sends the browser back: checks the login, opens the session",
            auth=False,
            ok=302,
            errors=(401, 404, 502),
        )
    },
}
