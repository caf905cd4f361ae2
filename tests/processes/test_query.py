"""The query procedure (mission 3.4): a stated purpose, a review, and a bounded grant."""

from __future__ import annotations

from sqlalchemy import select

from service.audit.models import AuditRecord
from tests.conftest import add_user
from tests.processes.conftest import IDENTIFY, actions

REQUEST = {
    "lookup_by": "id_number",
    **IDENTIFY,
    "fields": ["name", "mobile", "address"],
    "purpose": "billing_dispute",
    "purpose_detail": "customer disputes the October invoice",
    "legal_basis": "contract",
}


def _requested(api) -> str:
    dept = api("dept")
    case = dept.start("query")
    filed = dept.complete(dept.task_of(case["id"], "file_query_request"), REQUEST)
    assert filed.status == 200, filed.body
    return case["id"]


def _granted(api, approved_fields: list[str]) -> str:
    case_id = _requested(api)
    reviewer = api("reviewer")
    done = reviewer.complete(
        reviewer.task_of(case_id, "review_query"),
        {"decision": "approve", "approved_fields": approved_fields},
    )
    assert (done.body["status"], done.body["outcome"]) == ("completed", "granted"), done.body
    grants = api("dept").get("/api/v1/grants").body["grants"]
    assert [g["case_id"] for g in grants] == [case_id]
    return grants[0]["id"]


def test_approved_query_grants_only_the_narrowed_fields(api, customer, more_users):
    grant_id = _granted(api, ["mobile"])
    dept = api("dept")
    shown = dept.get(f"/api/v1/grants/{grant_id}")
    assert shown.body["fields"] == ["mobile"]
    assert "****" in shown.body["masked"]["mobile"]
    read = dept.post(f"/api/v1/grants/{grant_id}/read", {"fields": ["mobile"]})
    assert read.status == 200, read.body
    assert read.body["values"]["mobile"].endswith("13812345678")
    refused = dept.post(f"/api/v1/grants/{grant_id}/read", {"fields": ["name"]})
    assert refused.status == 403
    assert "does not cover" in refused.body["error"]["message"]


def test_each_read_is_a_query_log_entry_and_refusals_are_audited(api, deps, customer, more_users):
    grant_id = _granted(api, ["name", "mobile"])
    dept = api("dept")
    assert dept.post(f"/api/v1/grants/{grant_id}/read").status == 200
    assert api("dept2").post(f"/api/v1/grants/{grant_id}/read").status == 403
    case_id = dept.get(f"/api/v1/grants/{grant_id}").body["case_id"]
    log = [a for a in actions(deps, case_id) if a[1] == "subject.read"]
    assert ("dept", "subject.read", "done") in log
    assert ("dept2", "subject.read", "refused") in log


def test_an_empty_field_list_is_refused_and_uses_no_view(api, customer, more_users):
    grant_id = _granted(api, ["name", "mobile"])
    dept = api("dept")
    refused = dept.post(f"/api/v1/grants/{grant_id}/read", {"fields": []})
    assert refused.status == 422
    assert refused.body["error"]["details"][0]["field"] == "fields"
    assert dept.get(f"/api/v1/grants/{grant_id}").body["views"] == 0


def test_grant_expires_and_runs_out_of_views(api, deps, clock, customer, more_users):
    grant_id = _granted(api, ["name"])
    dept = api("dept")
    for _ in range(deps.settings.grant_max_views):
        assert dept.post(f"/api/v1/grants/{grant_id}/read").status == 200
    used_up = dept.post(f"/api/v1/grants/{grant_id}/read")
    assert used_up.status == 403 and "used up" in used_up.body["error"]["message"]
    second = _granted_again(api)
    clock.advance(hours=deps.settings.grant_ttl_hours, seconds=1)
    expired = dept.post(f"/api/v1/grants/{second}/read")
    assert expired.status == 403 and "expired" in expired.body["error"]["message"]


def _granted_again(api) -> str:
    case_id = _requested(api)
    reviewer = api("reviewer2")
    reviewer.complete(
        reviewer.task_of(case_id, "review_query"),
        {"decision": "approve", "approved_fields": ["address"]},
    )
    return [g for g in api("dept").get("/api/v1/grants").body["grants"] if g["case_id"] == case_id][
        0
    ]["id"]


def test_refused_query_issues_no_grant(api, customer, more_users):
    case_id = _requested(api)
    reviewer = api("reviewer")
    done = reviewer.complete(
        reviewer.task_of(case_id, "review_query"),
        {"decision": "reject", "reason": "purpose is not lawful"},
    )
    assert done.body["outcome"] == "refused", done.body
    assert api("dept").get("/api/v1/grants").body["grants"] == []


def test_no_grant_means_no_data(api, customer, more_users):
    missing = api("dept").post("/api/v1/grants/grt_" + "0" * 32 + "/read")
    assert missing.status == 403
    assert api("reviewer").get("/api/v1/grants").status == 403  # no grant.use


def test_requester_cannot_approve_their_own_grant(api, deps, customer, more_users):
    both = api("dept_reviewer")
    case = both.start("query")
    both.complete(both.task_of(case["id"], "file_query_request"), REQUEST)
    refused = both.complete(
        both.task_of(case["id"], "review_query"),
        {"decision": "approve", "approved_fields": ["name"]},
    )
    assert refused.status == 403
    assert ("dept_reviewer", "task.complete", "refused") in actions(deps, case["id"])
    assert both.get("/api/v1/grants").body["grants"] == []


def test_query_by_mobile_finds_the_customer(api, customer, more_users):
    dept = api("dept")
    case = dept.start("query")
    request = {k: v for k, v in REQUEST.items() if k not in ("id_type", "id_number")}
    filed = dept.complete(
        dept.task_of(case["id"], "file_query_request"),
        request | {"lookup_by": "mobile", "mobile": "+8613812345678"},
    )
    assert filed.status == 200, filed.body
    assert filed.body["subject"] == customer


def test_overdue_query_review_shows_as_overdue_first(api, deps, clock, customer, more_users):
    first = _requested(api)
    clock.advance(days=1)
    _requested(api)
    tasks = api("reviewer").get("/api/v1/tasks?scope=claimable&procedure=query").body["tasks"]
    assert [t["case_id"] for t in tasks][0] == first
    assert all(t["due_at"] for t in tasks)


def test_the_reviewer_may_narrow_the_fields_but_never_widen_them(api, deps, customer, more_users):
    dept, reviewer = api("dept"), api("reviewer")
    case = dept.start("query")
    asked = REQUEST | {"fields": ["mobile"]}
    assert dept.complete(dept.task_of(case["id"], "file_query_request"), asked).status == 200
    task_id = reviewer.task_of(case["id"], "review_query")
    widened = reviewer.complete(
        task_id, {"decision": "approve", "approved_fields": ["mobile", "id_number", "address"]}
    )
    assert widened.status == 422, widened.body
    assert widened.body["error"]["details"] == [
        {
            "field": "approved_fields",
            "reason": "may only include items of fields; not ['address', 'id_number']",
        }
    ]
    assert dept.get("/api/v1/grants").body["grants"] == []
    assert reviewer.get(f"/api/v1/cases/{case['id']}").body["status"] == "running"
    done = reviewer.complete(task_id, {"decision": "approve", "approved_fields": ["mobile"]})
    assert done.status == 200, done.body
    assert [g["fields"] for g in dept.get("/api/v1/grants").body["grants"]] == [["mobile"]]


def test_staff_whose_training_lapsed_read_nothing_through_their_grant(api, deps, clock, customer):
    add_user(deps, "dept_lapsing", ["department_staff"], trained_days=0.5)
    dept, reviewer = api("dept_lapsing"), api("reviewer")
    case = dept.start("query")
    assert dept.complete(dept.task_of(case["id"], "file_query_request"), REQUEST).status == 200
    approve = {"decision": "approve", "approved_fields": ["mobile"]}
    assert reviewer.complete(reviewer.task_of(case["id"], "review_query"), approve).status == 200
    (grant,) = dept.get("/api/v1/grants").body["grants"]
    clock.advance(hours=13)  # the grant lasts 24 hours; the training ran out after 12
    refused = dept.post(f"/api/v1/grants/{grant['id']}/read")
    assert refused.status == 403, refused.body
    assert refused.body["error"]["message"].startswith("training personal_data_protection expired")
    by_them = [
        (action, outcome)
        for actor, action, outcome in _all_actions(deps)
        if actor == "dept_lapsing" and action.startswith(("access.", "subject.read"))
    ]
    assert by_them == [("access.training_gate", "refused")]  # nothing was read


def _all_actions(deps) -> list[tuple[str, str, str]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(AuditRecord.actor, AuditRecord.action, AuditRecord.outcome)
        ).all()
    return [tuple(row) for row in rows]
