"""Who is calling, and may they: bearer tokens or the browser session, then the access gate.

`enforce_access` runs before every view: it looks up the endpoint's rule in
service/access/permissions.py (no rule: refused), authenticates unless the
rule is public, and lets service/access/gate.py decide. Refusals are audited.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from service.access import gate
from service.access.breakglass import flag_use
from service.access.permissions import PAGE, PUBLIC, rule_for
from service.access.service import Actor, actor_for_token
from service.deps import Deps
from service.errors import Forbidden, Unauthenticated

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def deps() -> Deps:
    return current_app.extensions["datasteward"]


def begin_request() -> None:
    incoming = request.headers.get("X-Request-Id", "")
    g.request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex


def current_actor() -> Actor:
    actor = getattr(g, "actor", None)
    if actor is None:
        actor = g.actor = _authenticate()
    return actor


def _authenticate() -> Actor:
    """A bearer token from the header, or the browser session's token with its CSRF check."""
    token = bearer_token()
    if not token:
        token = _session_token()
    d = deps()
    with d.db.read_unit_of_work() as uow:
        actor = actor_for_token(uow.session, token, d.now())
    return replace(actor, request_id=g.request_id, client_addr=request.remote_addr)


def bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _session_token() -> str:
    token = session.get("api_token")
    if not token:
        raise Unauthenticated(
            "send 'Authorization: Bearer <token>'; get a token from POST /api/v1/auth/login"
        )
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "") or request.form.get("csrf_token", "")
        expected = session.get("csrf_token", "")
        if not expected or not hmac.compare_digest(sent, expected):
            raise Forbidden("missing or wrong CSRF token (send it as the X-CSRF-Token header)")
    return str(token)


def anonymous_actor() -> Actor:
    return Actor(0, "anonymous", frozenset(), g.request_id, request.remote_addr)


def enforce_access() -> Response | None:
    """The one authorization hook: deny by default, 401 for anonymous, 403 with a reason."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched: the 404/405 handler answers
        return None
    rule = rule_for(endpoint)
    d = deps()
    if rule is None:
        raise gate.refuse_unknown_endpoint(d, anonymous_actor(), endpoint)
    if rule == PUBLIC:
        return None
    if rule == PAGE and not _page_session_valid():
        return redirect(url_for("web.login", next=request.path))
    actor = _authenticated_or_refused(d, endpoint)
    gate.authorize(d, actor, rule, endpoint)
    if actor.break_glass_id is not None:
        flag_use(d, actor, request.method, request.path)
    return None


def _page_session_valid() -> bool:
    if not session.get("api_token") and not bearer_token():
        return False
    try:
        current_actor()
    except Unauthenticated as error:
        session.pop("api_token", None)
        endpoint = request.endpoint or ""
        gate.record_refusal(
            deps(), anonymous_actor(), "access.unauthenticated", endpoint, error.message
        )
        return False
    return True


def _authenticated_or_refused(d: Deps, endpoint: str) -> Actor:
    try:
        return current_actor()
    except Unauthenticated as error:
        gate.record_refusal(d, anonymous_actor(), "access.unauthenticated", endpoint, error.message)
        raise
    except Forbidden as error:
        gate.record_refusal(d, anonymous_actor(), "access.csrf", endpoint, error.message)
        raise


def register_access_control(app: Flask) -> None:
    app.before_request(enforce_access)


def authenticated(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_actor()
        return view(*args, **kwargs)

    wrapper.requires_auth = True  # type: ignore[attr-defined]
    return wrapper


def start_browser_session(login: dict[str, Any]) -> None:
    """A fresh session for a logged-in user: new cookie contents and CSRF token, language kept.

    Clearing first means nothing set before the login (a planted value) survives it.
    """
    lang = session.get("lang")
    session.clear()
    session.update(
        api_token=login["token"], csrf_token=secrets.token_urlsafe(32), user=login["user"]
    )
    if lang:
        session["lang"] = lang
