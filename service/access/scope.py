"""Department and branch scope: which cases a scoped role may see and act on.

A case belongs to the department and branch it was started in (recorded on the
case at its start). A role held with a department and/or branch scope acts only
on cases of that department/branch; an unscoped role acts everywhere. An open
break-glass grant lifts the scope (and nothing else). The same rule filters the
task list (`scope_condition`) and refuses claims and completions
(`out_of_scope_reason`, used by service/cases/duties.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, bindparam, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.access.models import User
from service.access.service import Actor, RoleScope

_HOME = select(User.department, User.branch).where(User.id == bindparam("id"))


def starting_scope(
    session: Session, actor: Actor, lanes: Iterable[str]
) -> tuple[str | None, str | None]:
    """(department, branch) of a case the actor starts now, its first steps in `lanes`.

    The scope of the starter's role in those lanes where it has one, otherwise
    the starter's own department and branch.
    """
    home = session.connection().execute(_HOME, {"id": actor.id}).first()
    department, branch = (home.department, home.branch) if home else (None, None)
    for scope in sorted(actor.role_scopes, key=lambda s: s.role):
        if scope.role in set(lanes) and _scoped(scope):
            return scope.department or department, scope.branch or branch
    return department, branch


def out_of_scope_reason(
    actor: Actor, role: str, department: str | None, branch: str | None
) -> str | None:
    """Why the actor's `role` may not act on a case of this department/branch, or None."""
    scope = actor.scope_of(role)
    if not _scoped(scope) or actor.break_glass_id is not None:
        return None
    if scope.branch is not None and branch != scope.branch:
        return (
            f"this case belongs to another branch; your {role} role covers branch {scope.branch!r}"
        )
    if scope.department is not None and department != scope.department:
        return (
            f"this case belongs to another department; your {role} role covers "
            f"department {scope.department!r}"
        )
    return None


def scope_condition(
    actor: Actor,
    lane: InstrumentedAttribute[str],
    department: InstrumentedAttribute[str | None],
    branch: InstrumentedAttribute[str | None],
) -> ColumnElement[bool] | None:
    """A WHERE clause keeping only rows in the actor's scope; None when nothing is scoped."""
    scoped = [s for s in actor.role_scopes if _scoped(s)]
    if not scoped or actor.break_glass_id is not None:
        return None
    unscoped = sorted(actor.roles - {s.role for s in scoped})
    terms: list[ColumnElement[bool]] = [lane.in_(unscoped)] if unscoped else []
    for scope in scoped:
        terms.append((lane == scope.role) & _within(scope, department, branch))
    return or_(false(), *terms)


def role_scope_condition(
    actor: Actor,
    role: str,
    department: InstrumentedAttribute[str | None],
    branch: InstrumentedAttribute[str | None],
) -> ColumnElement[bool] | None:
    """A WHERE clause keeping the cases in the scope of one of the actor's roles, every lane.

    What a supervisor oversees: their scope's cases whoever works on them. None
    when the role is unscoped (or a break-glass grant lifts the scope).
    """
    scope = actor.scope_of(role)
    if not _scoped(scope) or actor.break_glass_id is not None:
        return None
    return _within(scope, department, branch)


def _within(
    scope: RoleScope,
    department: InstrumentedAttribute[str | None],
    branch: InstrumentedAttribute[str | None],
) -> ColumnElement[bool]:
    """Rows of the scope's branch and department (either may be unset: any)."""
    return (branch == scope.branch if scope.branch is not None else true()) & (
        department == scope.department if scope.department is not None else true()
    )


def _scoped(scope: RoleScope) -> bool:
    return scope.department is not None or scope.branch is not None
