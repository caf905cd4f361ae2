"""Shared steps for the definitions integration tests: actors and collection cases."""

from __future__ import annotations

from typing import Any

from service.access.service import Actor, roles_of
from service.cases import service as cases
from tests.api.conftest import CONSENT, VALID_FORM


def actor(deps: Any, users: dict[str, int], name: str) -> Actor:
    with deps.unit_of_work() as uow:
        return Actor(users[name], name, roles_of(uow.session, users[name]))


def open_task(case: dict[str, Any], name: str) -> str:
    return next(t["id"] for t in case["tasks"] if t["name"] == name)


def collection_at(deps: Any, users: dict[str, int], step: str) -> dict[str, Any]:
    """A collection case waiting at `step` (record_consent, fill_form or review)."""
    desk = actor(deps, users, "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    if step == "record_consent":
        return case
    case = cases.complete_task(deps, desk, open_task(case, "record_consent"), CONSENT)
    if step == "fill_form":
        return case
    return cases.complete_task(deps, desk, open_task(case, "fill_form"), VALID_FORM)


def decide(deps: Any, users: dict[str, int], case: dict[str, Any], decision: str) -> dict:
    reviewer = actor(deps, users, "reviewer")
    data = {"decision": decision} | ({"reason": "incomplete"} if decision != "approve" else {})
    return cases.complete_task(deps, reviewer, open_task(case, "review"), data)
