"""User administration and API tokens: the use cases behind /users and /tokens.

Role changes need the users.admin permission (checked at the gate) and are audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.access.models import ApiToken, User, UserRole
from service.access.permissions import PERMISSIONS, permissions_of
from service.access.service import (
    ALL_SCOPES,
    Actor,
    RoleScope,
    check_roles,
    create_user,
    issue_token,
    roles_of,
    set_roles,
)
from service.access.throttle import throttle_for
from service.audit.service import Event, Refusal, record, records_refusals
from service.cases.models import Task
from service.clock import aware
from service.deps import Deps
from service.errors import Invalid, NotFound

MAX_TOKEN_DAYS = 90


def list_users(deps: Deps) -> list[dict[str, Any]]:
    users: dict[int, dict[str, Any]] = {}
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(User, UserRole).outerjoin(UserRole).order_by(User.username, UserRole.role)
        ).all()
        for user, role in rows:  # read inside the session: the rows expire when it closes
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


def user_id_of(deps: Deps, username: str) -> int:
    with deps.unit_of_work() as uow:
        user_id = uow.session.scalar(select(User.id).where(User.username == username))
    if user_id is None:
        raise NotFound(f"no user {username!r}")
    return user_id


def assign_roles(deps: Deps, actor: Actor, user_id: int, scopes: list[RoleScope]) -> None:
    """Replace the user's roles (each with its optional department/branch scope)."""
    with deps.unit_of_work() as uow:
        _replace_roles(uow.session, deps, actor, user_id, scopes)
        uow.commit()


def grant_role(deps: Deps, actor: Actor, user_id: int, scope: RoleScope) -> list[RoleScope]:
    """Add one role (or change its scope), keeping the user's other roles."""
    check_roles([scope.role])
    with deps.unit_of_work() as uow:
        held = [s for s in _scopes_of(uow.session, user_id) if s.role != scope.role]
        scopes = sorted([*held, scope], key=lambda s: s.role)
        _replace_roles(uow.session, deps, actor, user_id, scopes)
        uow.commit()
    return scopes


def revoke_role(deps: Deps, actor: Actor, user_id: int, role: str) -> list[RoleScope]:
    """Take one role away, keeping the user's other roles."""
    with deps.unit_of_work() as uow:
        held = _scopes_of(uow.session, user_id)
        if role not in {s.role for s in held}:
            raise Invalid.field("role", f"the user does not hold the role {role!r}")
        scopes = [s for s in held if s.role != role]
        _replace_roles(uow.session, deps, actor, user_id, scopes)
        uow.commit()
    return scopes


def _scopes_of(session: Session, user_id: int) -> list[RoleScope]:
    if session.get(User, user_id) is None:
        raise NotFound(f"no user {user_id}")
    rows = session.scalars(select(UserRole).where(UserRole.user_id == user_id))
    return [RoleScope(r.role, r.department, r.branch) for r in rows]


def _replace_roles(
    session: Session, deps: Deps, actor: Actor, user_id: int, scopes: list[RoleScope]
) -> None:
    if session.get(User, user_id) is None:
        raise NotFound(f"no user {user_id}")
    set_roles(session, user_id, scopes)
    detail = {"user_id": user_id, "roles": [vars(s) for s in scopes]}
    record(session, actor, Event("user.roles", detail=detail), deps.now())


@records_refusals
def lock_user(deps: Deps, actor: Actor, user_id: int, reason: str) -> None:
    """Lock an account: it cannot log in, every token it holds is revoked, its claims released."""
    reason = reason.strip()
    if not reason:
        raise Invalid.field("reason", "say why the account is locked")
    if user_id == actor.id:
        reason = "you cannot lock your own account"
        detail = {"user_id": user_id}
        raise Refusal(reason, Event("user.lock", outcome="refused", reason=reason, detail=detail))
    now = deps.now()
    with deps.unit_of_work() as uow:
        _get_user(uow.session, user_id).active = False
        uow.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        # Its claimed tasks go back to their lanes: nobody else could take them otherwise.
        released = (
            uow.session.connection()
            .execute(
                update(Task)
                .where(Task.assignee_id == user_id, Task.status == "claimed")
                .values(status="open", assignee_id=None, claimed_at=None)
            )
            .rowcount
        )
        detail = {"user_id": user_id, "tasks_released": released}
        event = Event("user.lock", reason=reason[:500], detail=detail)
        record(uow.session, actor, event, now)
        uow.commit()


def unlock_user(deps: Deps, actor: Actor, user_id: int) -> None:
    """Unlock an account: active again, and its failed-login lockout cleared."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        user = _get_user(uow.session, user_id)
        user.active = True
        throttle_for(deps).clear(uow.session, user.username)
        record(uow.session, actor, Event("user.unlock", detail={"user_id": user_id}), now)
        uow.commit()


def _get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


def create_token(
    deps: Deps,
    actor: Actor,
    name: str,
    scopes: list[str] | None,
    days: int,
    user_id: int | None = None,
) -> dict[str, Any]:
    """A named bearer token limited to some of its holder's permissions, for days.

    The holder is the actor, or (for an administrator) the user `user_id`.
    """
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise Invalid.field("days", f"must be between 1 and {MAX_TOKEN_DAYS}")
    now = deps.now()
    with deps.unit_of_work() as uow:
        holder = _token_holder(uow.session, actor, user_id)
        if scopes is not None:
            _check_scopes(holder, scopes)
        ttl = timedelta(days=days)
        token, expires = issue_token(uow.session, holder.id, now, ttl, scopes, name)
        detail: dict[str, Any] = {
            "name": name,
            "scopes": sorted(scopes) if scopes is not None else ALL_SCOPES,
        }
        if holder.id != actor.id:
            detail["user_id"] = holder.id
        record(uow.session, actor, Event("token.create", detail=detail), now)
        uow.commit()
    return {"token": token, "name": name, "expires_at": expires.isoformat(), "scopes": scopes}


def _token_holder(session: Session, actor: Actor, user_id: int | None) -> Actor:
    if user_id is None or user_id == actor.id:
        return actor
    if "users.admin" not in _perms(actor):
        raise NotFound(f"no user {user_id}")
    user = _get_user(session, user_id)
    return Actor(user.id, user.username, roles_of(session, user.id))


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
