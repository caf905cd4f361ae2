"""The collection procedure (mission 3.1) end to end through the HTTP API."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.audit.models import AuditRecord
from service.cases.models import Case, Task
from service.vault.models import DataKey, Subject, SubjectField
from tests.api.conftest import CONSENT, VALID_FORM


def _count(deps, model) -> int:
    with deps.unit_of_work() as uow:
        session = uow.keystore if model is DataKey else uow.session
        return session.scalar(select(func.count()).select_from(model))


def test_collection_approved_is_entered(api, collected, deps):
    reviewer = api("reviewer")
    review = reviewer.task_of(collected["id"], "review")
    shown = reviewer.get(f"/api/v1/tasks/{review}")
    assert shown.status == 200
    assert shown.body["subject_fields"]["name"] == VALID_FORM["name"]
    assert shown.body["form_schema"]["title"] == "用户信息审核"
    done = reviewer.complete(review, {"decision": "approve", "reason": ""})
    assert done.status == 200, done.body
    assert done.body["status"] == "completed"
    assert done.body["outcome"] == "entered"
    with deps.unit_of_work() as uow:
        subject = uow.session.get(Subject, done.body["subject"])
        assert subject is not None and subject.status == "active"


def test_collection_rejected_leaves_no_personal_data(api, collected, deps):
    reviewer = api("reviewer")
    review = reviewer.task_of(collected["id"], "review")
    done = reviewer.complete(review, {"decision": "reject", "reason": "ID card photo unreadable"})
    assert done.body["outcome"] == "rejected"
    assert _count(deps, SubjectField) == 0
    assert _count(deps, Subject) == 0
    assert _count(deps, DataKey) == 0


def test_collection_returned_for_correction_then_approved(api, collected):
    reviewer, desk = api("reviewer"), api("frontdesk")
    returned = reviewer.complete(
        reviewer.task_of(collected["id"], "review"),
        {"decision": "return", "reason": "address incomplete"},
    )
    assert returned.status == 200
    assert [t["name"] for t in returned.body["tasks"]] == ["fill_form"]
    corrected = dict(VALID_FORM, address="北京市朝阳区建国路88号3单元")
    refilled = desk.complete(desk.task_of(collected["id"], "fill_form"), corrected)
    assert refilled.status == 200, refilled.body
    review = reviewer.task_of(collected["id"], "review")
    assert (
        reviewer.get(f"/api/v1/tasks/{review}").body["subject_fields"]["address"]
        == corrected["address"]
    )
    done = reviewer.complete(review, {"decision": "approve"})
    assert done.body["outcome"] == "entered"


def test_collection_without_consent_ends_before_any_data_is_taken(api):
    desk = api("frontdesk")
    case = desk.start()
    done = desk.complete(
        desk.task_of(case["id"], "record_consent"), dict(CONSENT, consent_given=False)
    )
    assert done.body["status"] == "completed"
    assert done.body["outcome"] == "no_consent"
    assert done.body["subject"] is None


def test_case_history_records_who_did_what(api, collected):
    reviewer = api("reviewer")
    review = reviewer.task_of(collected["id"], "review")
    assert reviewer.get(f"/api/v1/tasks/{review}").status == 200
    reviewer.complete(review, {"decision": "approve"})
    history = api("auditor").get(f"/api/v1/cases/{collected['id']}").body["history"]
    actions = [(h["actor"], h["action"]) for h in history]
    assert actions[0] == ("frontdesk", "case.start")
    assert ("reviewer", "subject.read") in actions
    assert actions[-2:] == [("reviewer", "task.complete"), ("reviewer", "case.complete")]
    # Each task's record names its step (the diagram's name for it); others name none.
    steps = [h["step"] for h in history if h["action"] == "task.complete"]
    assert steps == [
        "说明目的并记录同意 Explain purpose and record consent",
        "填写用户信息采集表 Fill in the customer information collection form",
        "审核 Review",
    ]
    assert history[0]["step"] is None


def test_reviewer_cannot_review_own_collection(api, deps):
    both = api("allrounder")
    case = both.start()
    both.complete(both.task_of(case["id"], "record_consent"), CONSENT)
    both.complete(both.task_of(case["id"], "fill_form"), VALID_FORM)
    review = both.task_of(case["id"], "review")
    before = _snapshot(deps, case["id"])
    refused = both.complete(review, {"decision": "approve"})
    assert refused.status == 403
    assert "separation of duties" in refused.body["error"]["message"]
    assert _snapshot(deps, case["id"]) == before
    with deps.unit_of_work() as uow:
        last = uow.session.execute(
            select(AuditRecord.action, AuditRecord.outcome, AuditRecord.actor).order_by(
                AuditRecord.seq.desc()
            )
        ).first()
    assert tuple(last) == ("task.complete", "refused", "allrounder")


def test_malformed_form_data_is_refused_naming_each_field(api, deps):
    desk = api("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    task = desk.task_of(case["id"], "fill_form")
    before = _snapshot(deps, case["id"])
    bad = dict(VALID_FORM, id_type="library_card", mobile="12345")
    del bad["name"]
    reply = desk.complete(task, bad)
    assert reply.status == 422
    fields = {d["field"] for d in reply.body["error"]["details"]}
    assert fields == {"name", "id_type", "mobile"}
    assert VALID_FORM["id_number"] not in str(reply.body)
    assert _snapshot(deps, case["id"]) == before


def test_invalid_id_check_character_is_refused_and_nothing_stored(api, deps):
    desk = api("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    reply = desk.complete(
        desk.task_of(case["id"], "fill_form"), dict(VALID_FORM, id_number="110105194912310021")
    )
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "id_number"
    assert _count(deps, SubjectField) == 0 and _count(deps, DataKey) == 0


def test_unknown_task_is_404(api):
    reply = api("frontdesk").complete("00000000-0000-0000-0000-000000000000", {})
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


def test_someone_elses_claimed_task_cannot_be_completed(api, deps):
    desk, other = api("frontdesk"), api("frontdesk2")
    case = desk.start()
    task = desk.task_of(case["id"], "record_consent")
    assert desk.post(f"/api/v1/tasks/{task}/claim").status == 200
    before = _snapshot(deps, case["id"])
    refused = other.complete(task, CONSENT)
    assert refused.status == 403
    assert "claimed by someone else" in refused.body["error"]["message"]
    assert other.post(f"/api/v1/tasks/{task}/claim").status == 403
    assert _snapshot(deps, case["id"]) == before


def test_claim_and_unclaim_move_a_task_between_lists(api):
    desk = api("frontdesk")
    case = desk.start()
    task = desk.task_of(case["id"], "record_consent")
    mine = lambda: [t["id"] for t in desk.get("/api/v1/tasks?scope=mine").body["tasks"]]  # noqa: E731
    assert task not in mine()
    desk.post(f"/api/v1/tasks/{task}/claim")
    assert task in mine()
    assert desk.post(f"/api/v1/tasks/{task}/claim").status == 409
    desk.post(f"/api/v1/tasks/{task}/unclaim")
    assert task not in mine()
    claimable = [t["id"] for t in desk.get("/api/v1/tasks?scope=claimable").body["tasks"]]
    assert task in claimable


def test_wrong_role_cannot_start_or_see_tasks(api):
    dept = api("dept")
    refused = dept.post("/api/v1/cases", {"procedure": "collection"})
    assert refused.status == 403
    assert dept.get("/api/v1/tasks?scope=claimable").body["tasks"] == []


def test_bad_requests_get_clear_4xx(api, client):
    desk = api("frontdesk")
    assert desk.post("/api/v1/cases", {"procedure": "nonexistent"}).status == 404
    missing = desk.post("/api/v1/cases", {})
    assert missing.status == 422 and missing.body["error"]["details"][0]["field"] == "procedure"
    assert desk.get("/api/v1/tasks?limit=abc").status == 422
    assert desk.get("/api/v1/tasks?scope=everything").status == 422
    assert client.get("/api/v1/tasks").status_code == 401
    assert (
        client.get("/api/v1/tasks", headers={"Authorization": "Bearer dst_nope"}).status_code == 401
    )
    raw = client.post(
        "/api/v1/cases", data="{not json", headers=desk.headers, content_type="application/json"
    )
    assert raw.status_code == 422


def _snapshot(deps, case_id: str) -> tuple:
    """Everything a refused request must leave untouched."""
    with deps.unit_of_work() as uow:
        case = uow.session.get(Case, case_id)
        tasks = uow.session.execute(
            select(Task.id, Task.status, Task.assignee_id)
            .where(Task.case_id == case_id)
            .order_by(Task.id)
        ).all()
        fields = uow.session.scalar(select(func.count()).select_from(SubjectField))
        return case.lock_version, case.state, case.subject, tuple(tasks), fields


def test_the_task_list_pages_after_the_last_task_it_gave(api):
    desk = api("frontdesk")
    for _ in range(3):
        desk.start()
    whole = desk.get("/api/v1/tasks?scope=claimable").body
    assert len(whole["tasks"]) == 3 and whole["next_after"] is None
    first = desk.get("/api/v1/tasks?scope=claimable&limit=2").body
    assert first["next_after"] == first["tasks"][-1]["id"]
    rest = desk.get(f"/api/v1/tasks?scope=claimable&limit=2&after={first['next_after']}").body
    assert rest["next_after"] is None
    assert first["tasks"] + rest["tasks"] == whole["tasks"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("after=nope", "a task id (a lower-case UUID) is required"),
        ("after=00000000-0000-4000-8000-000000000000", "no task has this id"),
        ("after={task}&offset=2", "page by after or by offset, not both"),
    ],
)
def test_a_bad_page_cursor_is_refused_naming_after(api, query, reason):
    desk = api("frontdesk")
    case = desk.start()
    task = desk.task_of(case["id"], "record_consent")
    refused = desk.get("/api/v1/tasks?" + query.format(task=task))
    assert refused.status == 422, refused.body
    assert refused.body["error"]["details"] == [{"field": "after", "reason": reason}]


def test_a_form_returned_for_correction_comes_back_filled_in_for_its_collector(
    api, deps, collected
):
    reviewer, desk = api("reviewer"), api("frontdesk")
    returned = reviewer.complete(
        reviewer.task_of(collected["id"], "review"),
        {"decision": "return", "reason": "please check the address"},
    )
    assert returned.status == 200, returned.body
    task_id = desk.task_of(collected["id"], "fill_form")
    shown = desk.get(f"/api/v1/tasks/{task_id}").body
    assert shown["prefill"] == VALID_FORM | {"mobile": "+8613812345678"}  # the draft, as kept
    assert shown["returned_reason"] == "please check the address"
    with deps.unit_of_work() as uow:
        purposes = uow.session.scalars(
            select(AuditRecord.purpose).where(
                AuditRecord.task_id == task_id, AuditRecord.action == "subject.read"
            )
        ).all()
    assert purposes == ["correction: fill_form"]
    # Not for oversight, nor for front-desk staff while someone else holds the task.
    assert api("auditor").get(f"/api/v1/tasks/{task_id}").body["prefill"] is None
    assert desk.post(f"/api/v1/tasks/{task_id}/claim").status == 200
    assert api("frontdesk2").get(f"/api/v1/tasks/{task_id}").body["prefill"] is None
    corrected = desk.complete(task_id, VALID_FORM | {"address": "北京市朝阳区建国路89号"})
    assert corrected.status == 200, corrected.body
    # The next review is no "returned" step, though the last decision was a return.
    review = reviewer.get(f"/api/v1/tasks/{reviewer.task_of(collected['id'], 'review')}").body
    assert review["returned_reason"] is None
