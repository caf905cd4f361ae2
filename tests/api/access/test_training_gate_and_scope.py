"""The training gate (section 5), branch scope and break-glass, with an injected clock."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from service.access.service import RoleScope
from service.audit.models import AuditRecord
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import add_user


def _add_user(deps, username, roles, days=30, branch=None, scope_branch=None) -> int:
    scopes = [RoleScope(r, branch=scope_branch) for r in roles] if scope_branch else None
    return add_user(deps, username, roles, trained_days=days, branch=branch, scopes=scopes)


def _collected(desk) -> str:
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    assert desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM).status == 200
    return case["id"]


def _actions(deps, action):
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(AuditRecord.reason, AuditRecord.detail).where(AuditRecord.action == action)
        )
        return list(rows)


def test_a_lapsed_reviewer_is_refused_with_the_reason_and_allowed_once_renewed(
    api, deps, users, clock
):
    lapsing = _add_user(deps, "lapsing", ["reviewer"], days=10)
    expired_on = (clock() + timedelta(days=10)).date().isoformat()
    case_id = _collected(api("frontdesk"))
    clock.advance(days=11)
    reviewer = api("lapsing")
    refused = reviewer.get("/api/v1/tasks?scope=claimable")
    assert refused.status == 403
    assert refused.body["error"]["message"] == (
        f"training personal_data_protection expired on {expired_on}"
    )
    assert [r.reason for r in _actions(deps, "access.training_gate")] == [
        refused.body["error"]["message"]
    ]
    renewed = api("admin").post(
        f"/api/v1/users/{lapsing}/training",
        {
            "course": "personal_data_protection",
            "completed_at": clock().isoformat(),
            "valid_days": 365,
        },
    )
    assert renewed.status == 201
    review = reviewer.task_of(case_id, "review")
    assert reviewer.post(f"/api/v1/tasks/{review}/claim").status == 200


def test_the_compliance_report_lists_who_is_lapsed_and_who_is_about_to(api, deps, users, clock):
    _add_user(deps, "lapsing", ["reviewer"], days=10)
    _add_user(deps, "expiring", ["front_desk"], days=20)
    clock.advance(days=11)
    report = api("compliance").get("/api/v1/compliance/training?within_days=30")
    rows = {(r["username"], r["status"]) for r in report.body["users"]}
    assert ("lapsing", "lapsed") in rows and ("expiring", "expiring") in rows
    assert ("reviewer", "lapsed") not in rows


def test_roles_without_personal_data_need_no_training(api, deps, users, clock):
    clock.advance(days=400)
    assert api("auditor").get("/api/v1/procedures").status == 200
    assert api("reviewer").get("/api/v1/tasks").status == 403


def test_a_reviewer_scoped_to_one_branch_cannot_act_on_another_branchs_case(api, deps, users):
    _add_user(deps, "north_reviewer", ["reviewer"], scope_branch="north")
    _add_user(deps, "north_desk", ["front_desk"], branch="north")
    south_case = _collected(api("frontdesk"))
    north_case = _collected(api("north_desk"))
    reviewer = api("north_reviewer")
    # Its task id as someone else would pass it on: the case itself is out of sight.
    assert reviewer.get(f"/api/v1/cases/{south_case}").status == 403
    refused = reviewer.post(f"/api/v1/tasks/{api('frontdesk').task_of(south_case, 'review')}/claim")
    assert refused.status == 403 and "another branch" in refused.body["error"]["message"]
    allowed = reviewer.post(f"/api/v1/tasks/{reviewer.task_of(north_case, 'review')}/claim")
    assert allowed.status == 200


def test_break_glass_needs_a_reason_expires_and_every_use_is_flagged(api, deps, users, clock):
    _add_user(deps, "north_reviewer", ["reviewer"], scope_branch="north")
    south_case = _collected(api("frontdesk"))
    reviewer = api("north_reviewer")
    review = api("frontdesk").task_of(south_case, "review")
    no_reason = reviewer.post("/api/v1/break-glass", {"reason": "x", "minutes": 30})
    assert no_reason.status == 422
    opened = reviewer.post(
        "/api/v1/break-glass", {"reason": "south branch reviewer is ill", "minutes": 30}
    )
    assert opened.status == 201
    assert reviewer.post(f"/api/v1/tasks/{review}/claim").status == 200
    assert reviewer.post(f"/api/v1/tasks/{review}/unclaim").status == 200
    uses = _actions(deps, "break_glass.use")
    assert len(uses) == 2 and all(u.detail["grant_id"] == opened.body["id"] for u in uses)
    clock.advance(minutes=31)
    expired = reviewer.post(f"/api/v1/tasks/{review}/claim")
    assert expired.status == 403 and "another branch" in expired.body["error"]["message"]
    report = api("compliance").get("/api/v1/compliance/break-glass")
    assert report.body["grants"][0]["reason"] == "south branch reviewer is ill"
