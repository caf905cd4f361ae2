"""Log in and out: the use cases behind /auth, throttled and audited either way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service.access.models import User
from service.access.service import Actor, issue_token, revoke_token, roles_of, verify_credentials
from service.access.throttle import throttle_for
from service.access.totp import check_second_factor
from service.audit.service import Event, record
from service.deps import Deps
from service.errors import DomainError, Unauthenticated


def log_in(
    deps: Deps,
    anonymous: Actor,
    username: str,
    password: str,
    totp_code: str | None = None,
) -> dict[str, Any]:
    """Check the credentials (and second factor), then issue a bearer token."""
    now = deps.now()
    addr = (anonymous.client_addr or "unknown")[:64]
    who = Actor(0, username[:64], frozenset(), anonymous.request_id, anonymous.client_addr)
    throttle = throttle_for(deps)
    with deps.unit_of_work() as uow:
        try:
            throttle.check(uow.session, username, addr, now)
            user = verify_credentials(uow.session, username, password)
            if user is None:
                raise Unauthenticated("wrong username or password")
            roles = roles_of(uow.session, user.id)
            check_second_factor(deps, uow.session, user, roles, totp_code)
        except DomainError as refusal:
            throttle.note(uow.session, username, addr, now, ok=False)
            event = Event(
                "auth.login",
                outcome="refused",
                reason=refusal.message,
                detail=_refusal_detail(refusal),
            )
            record(uow.session, who, event, now)
            uow.commit()
            raise
        throttle.note(uow.session, username, addr, now, ok=True)
        result = issue_login(deps, uow.session, user, roles, anonymous)
        uow.commit()
    return result


def _refusal_detail(refusal: DomainError) -> dict[str, Any] | None:
    """The machine-readable reasons (e.g. totp: totp_replayed), without any values sent."""
    reasons = {d["field"]: d["reason"] for d in refusal.details if "field" in d and "reason" in d}
    return reasons or None


def issue_login(
    deps: Deps,
    session: Any,
    user: User,
    roles: frozenset[str],
    anon: Actor,
    method: str = "password",
) -> dict[str, Any]:
    """A bearer token for a user whose login checked out, and its audit record."""
    now = deps.now()
    actor = Actor(user.id, user.username, roles, anon.request_id, anon.client_addr)
    ttl = timedelta(hours=deps.settings.token_ttl_hours)
    token, expires_at = issue_token(session, user.id, now, ttl, name="login")
    detail = None if method == "password" else {"method": method}
    record(session, actor, Event("auth.login", detail=detail), now)
    return {
        "token": token,
        "expires_at": expires_at.isoformat(),
        "user": {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "roles": sorted(roles),
        },
    }


def log_out(deps: Deps, actor: Actor, token: str) -> None:
    now = deps.now()
    with deps.unit_of_work() as uow:
        revoke_token(uow.session, token, now)
        record(uow.session, actor, Event("auth.logout"), now)
        uow.commit()
