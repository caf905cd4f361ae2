"""The request gate: the endpoint's permission, the token's scopes and the training gate.

Called once per request by the before_request hook, before any view runs.
Every refusal is audited with its reason.
"""

from __future__ import annotations

from service.access.permissions import (
    AUTHENTICATED,
    PERSONAL_DATA_PERMISSIONS,
    PUBLIC,
    allows,
    required_courses,
)
from service.access.service import Actor
from service.access.training import known_lapses, lapses
from service.audit.service import Event, Refusal, record, records_refusals
from service.deps import Deps


@records_refusals
def authorize(deps: Deps, actor: Actor, rule: str, endpoint: str) -> None:
    """Raise an audited Refusal unless the actor may use the endpoint now."""
    if rule in (PUBLIC, AUTHENTICATED):
        return
    if not allows(actor.roles, rule):
        raise _refusal(rule, endpoint, f"your roles do not include the permission {rule!r}")
    if actor.scopes is not None and rule not in actor.scopes:
        raise _refusal(rule, endpoint, f"this token is not scoped for {rule!r}")
    if rule in PERSONAL_DATA_PERMISSIONS and required_courses(actor.roles):
        now = deps.now()
        lapsed = known_lapses(actor, now)
        if lapsed is None:  # an actor not from a credential read: ask the database
            with deps.db.read_unit_of_work() as uow:
                lapsed = lapses(uow.session, actor.id, actor.roles, now)
        if lapsed:
            raise _refusal(rule, endpoint, lapsed[0].reason, action="access.training_gate")


def refuse_unknown_endpoint(deps: Deps, actor: Actor, endpoint: str) -> Refusal:
    """An endpoint without a rule is refused (deny by default); audited here."""
    reason = f"no access rule is defined for {endpoint}; refused by default"
    refusal = _refusal("none", endpoint, reason)
    _record(deps, actor, refusal.event)
    return refusal


def record_refusal(deps: Deps, actor: Actor, action: str, endpoint: str, reason: str) -> None:
    """Audit a refusal decided before any use case ran (no credentials, CSRF, origin)."""
    event = Event(action, outcome="refused", reason=reason[:500], detail={"endpoint": endpoint})
    _record(deps, actor, event)


def _record(deps: Deps, actor: Actor, event: Event) -> None:
    with deps.unit_of_work() as uow:
        record(uow.session, actor, event, deps.now())
        uow.commit()


def _refusal(rule: str, endpoint: str, reason: str, action: str = "access.denied") -> Refusal:
    detail = {"endpoint": endpoint, "permission": rule}
    return Refusal(reason, Event(action, outcome="refused", reason=reason, detail=detail))
