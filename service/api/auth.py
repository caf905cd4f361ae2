"""Who is calling: bearer tokens, checked with one indexed query per request."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, g, request, session

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
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        token = _session_token()
    d = deps()
    with d.unit_of_work() as uow:
        actor = actor_for_token(uow.session, token.strip(), d.now())
    return Actor(actor.id, actor.username, actor.roles, g.request_id, request.remote_addr)


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


def authenticated(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_actor()
        return view(*args, **kwargs)

    wrapper.requires_auth = True  # type: ignore[attr-defined]
    return wrapper
