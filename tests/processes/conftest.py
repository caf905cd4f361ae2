"""Driving the lifecycle procedures through the HTTP API, as the staff would."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service.audit.models import AuditRecord
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import add_users

IDENTIFY = {"id_type": VALID_FORM["id_type"], "id_number": VALID_FORM["id_number"]}


@pytest.fixture
def more_users(deps, users) -> dict[str, int]:
    """People the lifecycle procedures need beyond the shared `users` fixture."""
    extra = {
        "supervisor": ["supervisor"],
        "dept2": ["department_staff"],
        "dept_reviewer": ["department_staff", "reviewer"],
        "review_officer": ["reviewer", "data_officer"],
    }
    return dict(users) | add_users(deps, extra)


@pytest.fixture
def customer(api) -> str:
    """A customer collected and entered; returns the subject's pseudonym."""
    desk, reviewer = api("frontdesk"), api("reviewer")
    case = desk.start("collection")
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    done = reviewer.complete(reviewer.task_of(case["id"], "review"), {"decision": "approve"})
    assert done.body["outcome"] == "entered", done.body
    return done.body["subject"]


def actions(deps, case_id: str) -> list[tuple[str, str, str]]:
    """(actor, action, outcome) of every audit record of a case, in order."""
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(AuditRecord.actor, AuditRecord.action, AuditRecord.outcome)
            .where(AuditRecord.case_id == case_id)
            .order_by(AuditRecord.seq)
        ).all()
    return [tuple(r) for r in rows]


def open_task(client: Any, case_id: str, name: str) -> str:
    return client.task_of(case_id, name)
