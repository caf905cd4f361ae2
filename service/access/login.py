"""Log in and out: the use cases behind /auth, audited either way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service.access.service import Actor, issue_token, revoke_token, roles_of, verify_credentials
from service.audit.service import Event, record
from service.deps import Deps
from service.errors import Unauthenticated


def log_in(deps: Deps, anonymous: Actor, username: str, password: str) -> dict[str, Any]:
    now = deps.now()
    with deps.unit_of_work() as uow:
        user = verify_credentials(uow.session, username, password)
        if user is None:
            who = Actor(0, username[:64], frozenset(), anonymous.request_id, anonymous.client_addr)
            record(
                uow.session,
                who,
                Event("auth.login", outcome="refused", reason="wrong username or password"),
                now,
            )
            uow.commit()
            raise Unauthenticated("wrong username or password")
        roles = roles_of(uow.session, user.id)
        actor = Actor(user.id, user.username, roles, anonymous.request_id, anonymous.client_addr)
        ttl = timedelta(hours=deps.settings.token_ttl_hours)
        token, expires_at = issue_token(uow.session, user.id, now, ttl)
        record(uow.session, actor, Event("auth.login"), now)
        uow.commit()
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
