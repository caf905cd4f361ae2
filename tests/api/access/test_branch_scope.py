"""Branch and department scope: a case carries the scope it was started in, and a scoped
role neither lists, claims nor completes another branch's or department's tasks."""

from __future__ import annotations

from sqlalchemy import select, update

from service.access.models import User
from service.access.service import RoleScope
from service.audit.models import AuditRecord
from service.cases.models import Case
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import add_user

REVIEW_FORM = {"decision": "approve", "comment": "checked against the ID card"}


def _add_user(deps, username, roles, *, home=None, department=None, scopes=None) -> int:
    return add_user(
        deps, username, roles, trained_days=30, branch=home, department=department, scopes=scopes
    )


def _collected(desk) -> tuple[str, str]:
    """A collection case waiting for review: (case id, review task id)."""
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    assert desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM).status == 200
    return case["id"], desk.task_of(case["id"], "review")


def _case_scope(deps, case_id) -> tuple[str | None, str | None]:
    with deps.unit_of_work() as uow:
        case = uow.session.get_one(Case, case_id)
        return case.department, case.branch


def _refusals(deps, action) -> list[str]:
    with deps.unit_of_work() as uow:
        return list(
            uow.session.scalars(
                select(AuditRecord.reason).where(
                    AuditRecord.action == action, AuditRecord.outcome == "refused"
                )
            )
        )


def _claimable(client) -> set[str]:
    reply = client.get("/api/v1/tasks?scope=claimable")
    assert reply.status == 200, reply.body
    return {t["id"] for t in reply.body["tasks"]}


def test_a_case_records_the_branch_and_department_it_was_started_in(api, deps, users):
    _add_user(deps, "north_desk", ["front_desk"], home="north", department="retail")
    _add_user(
        deps,
        "east_desk",
        ["front_desk"],
        home="north",
        scopes=[RoleScope("front_desk", None, "east")],
    )
    north, _ = _collected(api("north_desk"))
    east, _ = _collected(api("east_desk"))
    anywhere, _ = _collected(api("frontdesk"))
    assert _case_scope(deps, north) == ("retail", "north")
    assert _case_scope(deps, east) == (None, "east")  # the starting role's scope wins
    assert _case_scope(deps, anywhere) == (None, None)


def test_a_branch_scoped_reviewer_lists_only_their_branchs_tasks(api, deps, users):
    _add_user(deps, "north_reviewer", ["reviewer"], scopes=[RoleScope("reviewer", branch="north")])
    _add_user(deps, "north_desk", ["front_desk"], home="north")
    _add_user(deps, "south_desk", ["front_desk"], home="south")
    _, north_review = _collected(api("north_desk"))
    _, south_review = _collected(api("south_desk"))
    _, unbranched_review = _collected(api("frontdesk"))
    assert _claimable(api("north_reviewer")) == {north_review}
    assert {north_review, south_review, unbranched_review} <= _claimable(api("reviewer"))
    mine = api("north_reviewer").get("/api/v1/tasks?scope=all")
    assert {t["id"] for t in mine.body["tasks"]} == {north_review}


def test_a_wrong_branch_reviewer_is_refused_claim_and_complete_with_an_audited_reason(
    api, deps, users
):
    _add_user(deps, "north_reviewer", ["reviewer"], scopes=[RoleScope("reviewer", branch="north")])
    _add_user(deps, "south_desk", ["front_desk"], home="south")
    _, south_review = _collected(api("south_desk"))
    reviewer = api("north_reviewer")
    claim = reviewer.post(f"/api/v1/tasks/{south_review}/claim")
    complete = reviewer.complete(south_review, REVIEW_FORM)
    assert (claim.status, complete.status) == (403, 403)
    assert "another branch" in claim.body["error"]["message"]
    assert "another branch" in complete.body["error"]["message"]
    assert any("branch 'north'" in r for r in _refusals(deps, "task.claim"))
    assert any("branch 'north'" in r for r in _refusals(deps, "task.complete"))
    assert api("reviewer").post(f"/api/v1/tasks/{south_review}/claim").status == 200


def test_a_wrong_branch_reviewer_cannot_open_the_task_or_case_directly(api, deps, users):
    _add_user(deps, "north_reviewer", ["reviewer"], scopes=[RoleScope("reviewer", branch="north")])
    _add_user(deps, "south_desk", ["front_desk"], home="south")
    _add_user(deps, "north_desk", ["front_desk"], home="north")
    south_case, south_review = _collected(api("south_desk"))
    north_case, north_review = _collected(api("north_desk"))
    reviewer = api("north_reviewer")
    task, case = (
        reviewer.get(f"/api/v1/tasks/{south_review}"),
        reviewer.get(f"/api/v1/cases/{south_case}"),
    )
    assert (task.status, case.status) == (403, 403)
    assert "another branch" in task.body["error"]["message"]
    assert "another branch" in case.body["error"]["message"]
    assert reviewer.get(f"/api/v1/tasks/{north_review}").status == 200
    assert reviewer.get(f"/api/v1/cases/{north_case}").status == 200
    assert api("reviewer").get(f"/api/v1/cases/{south_case}").status == 200


def test_a_department_scoped_reviewer_sees_and_acts_only_on_their_department(api, deps, users):
    _add_user(
        deps, "retail_reviewer", ["reviewer"], scopes=[RoleScope("reviewer", department="retail")]
    )
    _add_user(deps, "retail_desk", ["front_desk"], department="retail")
    _add_user(deps, "corporate_desk", ["front_desk"], department="corporate")
    _, retail_review = _collected(api("retail_desk"))
    _, corporate_review = _collected(api("corporate_desk"))
    reviewer = api("retail_reviewer")
    assert _claimable(reviewer) == {retail_review}
    refused = reviewer.post(f"/api/v1/tasks/{corporate_review}/claim")
    assert refused.status == 403 and "another department" in refused.body["error"]["message"]
    assert reviewer.post(f"/api/v1/tasks/{retail_review}/claim").status == 200


def test_the_case_keeps_its_branch_when_its_starter_moves(api, deps, users):
    _add_user(deps, "north_reviewer", ["reviewer"], scopes=[RoleScope("reviewer", branch="north")])
    starter = _add_user(deps, "north_desk", ["front_desk"], home="north")
    _, review = _collected(api("north_desk"))
    with deps.unit_of_work() as uow:
        uow.session.execute(update(User).where(User.id == starter).values(branch="south"))
        uow.commit()
    assert _claimable(api("north_reviewer")) == {review}
    assert api("north_reviewer").post(f"/api/v1/tasks/{review}/claim").status == 200


def test_only_the_scoped_role_is_filtered_and_break_glass_lifts_the_filter(api, deps, users):
    _add_user(
        deps,
        "mixed",
        ["front_desk", "reviewer"],
        scopes=[RoleScope("front_desk"), RoleScope("reviewer", branch="north")],
    )
    _add_user(deps, "south_desk", ["front_desk"], home="south")
    _, south_review = _collected(api("south_desk"))
    mixed = api("mixed")
    own = mixed.start()
    consent_task = mixed.task_of(own["id"], "record_consent")
    assert _claimable(mixed) == {consent_task}  # front desk unscoped, reviewer north only
    opened = mixed.post("/api/v1/break-glass", {"reason": "south reviewers are away", "minutes": 5})
    assert opened.status == 201
    assert _claimable(mixed) == {consent_task, south_review}
