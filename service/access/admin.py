"""User administration and API tokens: the use cases behind /users and /tokens.

Role changes need the users.admin permission (checked at the gate) and are audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from service.access.models import ApiToken, User, UserRole
from service.access.permissions import PERMISSIONS, permissions_of
from service.access.service import ALL_SCOPES, Actor, RoleScope, create_user, issue_token, set_roles
from service.audit.service import Event, record
from service.clock import aware
from service.deps import Deps
from service.errors import Invalid, NotFound

MAX_TOKEN_DAYS = 90


def list_users(deps: Deps) -> list[dict[str, Any]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(User, UserRole).outerjoin(UserRole).order_by(User.username, UserRole.role)
        ).all()
    users: dict[int, dict[str, Any]] = {}
    for user, role in rows:
        view = users.setdefault(user.id, _user_view(user))
        if role is not None:
            view["roles"].append(
                {"role": role.role, "department": role.department, "branch": role.branch}
            )
    return list(users.values())


def _user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "department": user.department,
        "branch": user.branch,
        "active": user.active,
        "totp_enabled": user.totp_enabled,
        "roles": [],
    }


def add_user(deps: Deps, actor: Actor, fields: dict[str, Any]) -> dict[str, Any]:
    now = deps.now()
    with deps.unit_of_work() as uow:
        user_id = create_user(uow.session, now=now, **fields)
        detail = {"user_id": user_id, "roles": sorted(fields["roles"])}
        record(uow.session, actor, Event("user.create", detail=detail), now)
        uow.commit()
    return {"id": user_id, "username": fields["username"]}


def assign_roles(deps: Deps, actor: Actor, user_id: int, scopes: list[RoleScope]) -> None:
    now = deps.now()
    with deps.unit_of_work() as uow:
        if uow.session.get(User, user_id) is None:
            raise NotFound(f"no user {user_id}")
        set_roles(uow.session, user_id, scopes)
        detail = {"user_id": user_id, "roles": [vars(s) for s in scopes]}
        record(uow.session, actor, Event("user.roles", detail=detail), now)
        uow.commit()


def create_token(
    deps: Deps, actor: Actor, name: str, scopes: list[str] | None, days: int
) -> dict[str, Any]:
    """A named bearer token limited to some of the actor's permissions, for days."""
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid.field("days", f"must be between 1 and {MAX_TOKEN_DAYS}")
    if scopes is not None:
        _check_scopes(actor, scopes)
    now = deps.now()
    with deps.unit_of_work() as uow:
        token, expires = issue_token(uow.session, actor.id, now, timedelta(days=days), scopes, name)
        detail = {"name": name, "scopes": sorted(scopes) if scopes is not None else ALL_SCOPES}
        record(uow.session, actor, Event("token.create", detail=detail), now)
        uow.commit()
    return {"token": token, "name": name, "expires_at": expires.isoformat(), "scopes": scopes}


def _check_scopes(actor: Actor, scopes: list[str]) -> None:
    unknown = sorted(set(scopes) - set(PERMISSIONS))
    if unknown:
        raise Invalid.field("scopes", f"unknown permissions: {unknown}")
    beyond = sorted(set(scopes) - permissions_of(actor.roles))
    if beyond:
        raise Invalid.field("scopes", f"your roles do not grant: {beyond}")
    if actor.scopes is not None and not set(scopes) <= actor.scopes:
        raise Invalid.field("scopes", "a scoped token cannot create a wider token")


def list_tokens(deps: Deps, actor: Actor) -> list[dict[str, Any]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(
            select(ApiToken).where(ApiToken.user_id == actor.id).order_by(ApiToken.id)
        )
        return [
            {
                "id": t.id,
                "name": t.name,
                "scopes": None if t.scopes == ALL_SCOPES else t.scopes.split(),
                "created_at": aware(t.created_at).isoformat(),
                "expires_at": aware(t.expires_at).isoformat(),
                "revoked_at": aware(t.revoked_at).isoformat() if t.revoked_at else None,
            }
            for t in rows
        ]


def revoke_token_by_id(deps: Deps, actor: Actor, token_id: int) -> None:
    """Revoke one of your own tokens (an administrator may revoke anyone's)."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        owner = uow.session.scalar(select(ApiToken.user_id).where(ApiToken.id == token_id))
        if owner is None or (owner != actor.id and "users.admin" not in _perms(actor)):
            raise NotFound(f"no token {token_id}")
        uow.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        record(uow.session, actor, Event("token.revoke", detail={"token_id": token_id}), now)
        uow.commit()


def _perms(actor: Actor) -> frozenset[str]:
    return permissions_of(actor.roles)
