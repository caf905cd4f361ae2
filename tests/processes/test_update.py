"""The update procedure (mission 3.3): change request with proof, review, apply, change log."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from service.access.service import SYSTEM
from service.audit.models import AuditRecord
from service.cases.models import Task
from service.cases.service import fire_due_timers
from service.notifications import Notification
from service.vault import service as vault
from tests.api.conftest import VALID_FORM
from tests.processes.conftest import IDENTIFY, actions

NEW_MOBILE = "13900001111"
REQUEST = IDENTIFY | {"new_mobile": NEW_MOBILE, "reason": "customer changed phone number"}


def _filed(api, customer: str) -> str:
    desk = api("frontdesk")
    case = desk.start("update")
    filed = desk.complete(desk.task_of(case["id"], "file_change_request"), REQUEST)
    assert filed.status == 200, filed.body
    assert filed.body["subject"] == customer
    return case["id"]


def applied_change(api, customer: str) -> str:
    """The change request (a new mobile number) filed and approved; returns the case id."""
    case_id = _filed(api, customer)
    reviewer = api("reviewer")
    done = reviewer.complete(reviewer.task_of(case_id, "review_change"), {"decision": "approve"})
    assert done.body["outcome"] == "updated", done.body
    return case_id


def _mobile(deps, subject: str) -> str:
    with deps.unit_of_work() as uow:
        return vault.read_fields(uow, deps.keys, subject, ["mobile"])["mobile"]


def test_approved_change_is_applied_logged_and_notified(api, deps, customer, more_users):
    case_id = _filed(api, customer)
    reviewer = api("reviewer")
    done = reviewer.complete(reviewer.task_of(case_id, "review_change"), {"decision": "approve"})
    assert (done.body["status"], done.body["outcome"]) == ("completed", "updated"), str(done.body)
    assert _mobile(deps, customer).endswith(NEW_MOBILE)
    with deps.unit_of_work() as uow:
        change = uow.session.execute(
            select(AuditRecord.fields, AuditRecord.detail_enc).where(
                AuditRecord.case_id == case_id, AuditRecord.action == "subject.update"
            )
        ).one()
        detail = vault.decrypt_detail(uow, deps.keys, customer, change.detail_enc)
        templates = uow.session.scalars(
            select(Notification.template).where(Notification.case_id == case_id)
        ).all()
    assert change.fields == ["mobile"]
    assert detail["after"]["mobile"].endswith(NEW_MOBILE)
    assert detail["before"]["mobile"] != detail["after"]["mobile"]
    assert NEW_MOBILE not in str(change)
    assert templates == ["mobile_replaced", "change_applied"]  # the old number, the new one
    assert ("reviewer", "subject.update", "done") in actions(deps, case_id)


def test_rejected_change_leaves_the_record_and_notifies(api, deps, customer, more_users):
    before = _mobile(deps, customer)
    case_id = _filed(api, customer)
    reviewer = api("reviewer")
    done = reviewer.complete(
        reviewer.task_of(case_id, "review_change"),
        {"decision": "reject", "review_reason": "proof does not match"},
    )
    assert done.body["outcome"] == "rejected"
    assert _mobile(deps, customer) == before


def test_more_proof_then_approve(api, deps, customer, more_users):
    case_id = _filed(api, customer)
    reviewer, desk = api("reviewer"), api("frontdesk")
    asked = reviewer.complete(
        reviewer.task_of(case_id, "review_change"),
        {"decision": "more_proof", "review_reason": "need the SIM contract"},
    )
    assert [t["name"] for t in asked.body["tasks"]] == ["provide_more_proof"]
    task = desk.task_of(case_id, "provide_more_proof")
    shown = desk.get(f"/api/v1/tasks/{task}").body["case_data"]
    assert (shown["reason"], shown["review_reason"]) == (REQUEST["reason"], "need the SIM contract")
    unknown = "00000000-0000-4000-8000-000000000000"
    refused = desk.complete(task, {"documents": [unknown], "note": "contract attached"})
    assert refused.status == 422 and refused.body["error"]["details"][0]["field"] == "documents"
    uploaded = desk.client.post(
        f"/api/v1/cases/{case_id}/documents",
        headers=desk.headers,
        data={"file": (io.BytesIO(b"%PDF-1.7 SIM contract"), "contract.pdf")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code in (200, 201), uploaded.get_json()
    document = uploaded.get_json()["id"]
    proof = desk.complete(task, {"documents": [document], "note": "contract attached"})
    assert proof.status == 200, proof.body
    done = reviewer.complete(reviewer.task_of(case_id, "review_change"), {"decision": "approve"})
    assert done.body["outcome"] == "updated"
    assert _mobile(deps, customer).endswith(NEW_MOBILE)


def test_unknown_customer_is_refused_naming_the_field(api, customer, more_users):
    desk = api("frontdesk")
    case = desk.start("update")
    reply = desk.complete(
        desk.task_of(case["id"], "file_change_request"),
        REQUEST | {"id_number": "110105194912310037"},
    )
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == "id_number"


def test_requester_cannot_review_own_change(api, deps, customer, more_users):
    both = api("allrounder")
    case = both.start("update")
    both.complete(both.task_of(case["id"], "file_change_request"), REQUEST)
    refused = both.complete(both.task_of(case["id"], "review_change"), {"decision": "approve"})
    assert refused.status == 403
    assert ("allrounder", "task.complete", "refused") in actions(deps, case["id"])
    assert _mobile(deps, customer) != NEW_MOBILE


def test_requester_withdraws_before_review(api, deps, customer, more_users):
    case_id = _filed(api, customer)
    assert (
        api("frontdesk2").post(f"/api/v1/cases/{case_id}/withdraw", {"reason": "not mine"}).status
        == 403
    )
    withdrawn = api("frontdesk").post(
        f"/api/v1/cases/{case_id}/withdraw", {"reason": "customer changed their mind"}
    )
    assert withdrawn.status == 200, withdrawn.body
    assert (withdrawn.body["status"], withdrawn.body["outcome"]) == ("completed", "withdrawn")
    assert withdrawn.body["tasks"] == []
    assert ("frontdesk", "case.withdraw", "done") in actions(deps, case_id)


def test_no_withdrawal_once_review_has_started(api, customer, more_users):
    case_id = _filed(api, customer)
    reviewer = api("reviewer")
    reviewer.post(f"/api/v1/tasks/{reviewer.task_of(case_id, 'review_change')}/claim")
    refused = api("frontdesk").post(f"/api/v1/cases/{case_id}/withdraw", {"reason": "too late"})
    assert refused.status == 409


def test_overdue_review_escalates_to_a_supervisor(api, deps, clock, customer, more_users):
    case_id = _filed(api, customer)
    due = datetime.fromisoformat(
        api("reviewer").get(f"/api/v1/cases/{case_id}").body["tasks"][0]["due_at"]
    )
    clock.now = due - timedelta(minutes=1)
    assert fire_due_timers(deps, SYSTEM) == 0
    clock.advance(minutes=2)
    assert fire_due_timers(deps, SYSTEM) == 1
    supervisor = api("supervisor")
    escalations = supervisor.get("/api/v1/tasks?scope=claimable").body["tasks"]
    assert [t["name"] for t in escalations] == ["escalate_overdue"]
    open_names = {t["name"] for t in supervisor.get(f"/api/v1/cases/{case_id}").body["tasks"]}
    assert open_names == {"review_change", "escalate_overdue"}
    noted = supervisor.complete(
        escalations[0]["id"], {"note": "reminded the reviewer", "action": "reminded"}
    )
    assert noted.status == 200, noted.body
    reviewer = api("reviewer")
    done = reviewer.complete(reviewer.task_of(case_id, "review_change"), {"decision": "approve"})
    assert done.body["outcome"] == "updated"


def test_a_review_decided_while_its_escalation_is_open_cancels_the_escalation(
    api, deps, clock, customer, more_users
):
    case_id = _filed(api, customer)
    due = datetime.fromisoformat(
        api("reviewer").get(f"/api/v1/cases/{case_id}").body["tasks"][0]["due_at"]
    )
    clock.now = due + timedelta(minutes=1)
    assert fire_due_timers(deps, SYSTEM) == 1
    reviewer = api("reviewer")
    done = reviewer.complete(reviewer.task_of(case_id, "review_change"), {"decision": "approve"})
    assert (done.body["status"], done.body["outcome"]) == ("completed", "updated"), done.body
    assert done.body["tasks"] == []
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Task.spec_name, Task.status).where(Task.case_id == case_id)
        ).all()
    assert sorted(rows) == [
        ("escalate_overdue", "cancelled"),
        ("file_change_request", "completed"),
        ("review_change", "completed"),
    ]
    assert "escalate_overdue" not in {
        t["name"] for t in api("supervisor").get("/api/v1/tasks?scope=claimable").body["tasks"]
    }


def test_review_due_date_counts_working_days_across_national_day(
    api, deps, clock, customer, more_users
):
    clock.now = datetime(2026, 9, 28, 9, 0, tzinfo=UTC)
    case_id = _filed(api, customer)
    case = api("reviewer").get(f"/api/v1/cases/{case_id}").body
    assert case["due_at"] == "2026-10-23T23:59:59+00:00"
    assert [(t["name"], t["due_at"]) for t in case["tasks"]] == [
        ("review_change", "2026-10-23T23:59:59+00:00")
    ]
    clock.now = datetime(2026, 10, 23, 23, 0, tzinfo=UTC)
    assert fire_due_timers(deps, SYSTEM) == 0
    clock.now = datetime(2026, 10, 24, 0, 0, tzinfo=UTC)
    assert fire_due_timers(deps, SYSTEM) == 1
    names = {t["name"] for t in api("supervisor").get(f"/api/v1/cases/{case_id}").body["tasks"]}
    assert names == {"review_change", "escalate_overdue"}


def test_extension_needs_a_reason_a_role_and_stays_under_the_ceiling(
    api, deps, clock, customer, more_users
):
    clock.now = datetime(2026, 9, 28, 9, 0, tzinfo=UTC)
    case_id = _filed(api, customer)
    path = f"/api/v1/cases/{case_id}/extend"
    later = "2026-10-27T18:00:00+00:00"
    assert api("reviewer").post(path, {"due_at": later, "reason": "x"}).status == 403
    supervisor = api("supervisor")
    assert supervisor.post(path, {"due_at": later}).status == 422
    too_late = supervisor.post(path, {"due_at": "2026-11-30T00:00:00+00:00", "reason": "r"})
    assert too_late.status == 422 and "ceiling" in too_late.body["error"]["details"][0]["reason"]
    extended = supervisor.post(path, {"due_at": later, "reason": "customer abroad until the 26th"})
    assert extended.status == 200, extended.body
    assert extended.body["tasks"][0]["due_at"] == later
    clock.now = datetime(2026, 10, 24, 0, 0, tzinfo=UTC)
    assert fire_due_timers(deps, SYSTEM) == 0
    assert ("supervisor", "case.extend", "done") in actions(deps, case_id)


def test_an_extension_given_in_another_time_zone_keeps_its_instant(
    api, deps, clock, customer, more_users
):
    """ "08:00+08:00" is 00:00 UTC: stored and shown as that instant, on every database.

    Kept as its clock reading, a far-east offset would carry an accepted date
    past the hard ceiling.
    """
    clock.now = datetime(2026, 9, 28, 9, 0, tzinfo=UTC)
    case_id = _filed(api, customer)
    path = f"/api/v1/cases/{case_id}/extend"
    supervisor = api("supervisor")

    starter = api("frontdesk")

    def due_dates() -> tuple[datetime, datetime]:
        shown = starter.get(f"/api/v1/cases/{case_id}").body
        (task,) = shown["tasks"]
        return datetime.fromisoformat(shown["due_at"]), datetime.fromisoformat(task["due_at"])

    extended = supervisor.post(path, {"due_at": "2026-10-27T08:00:00+08:00", "reason": "abroad"})
    assert extended.status == 200, extended.body
    assert due_dates() == (datetime(2026, 10, 27, 0, 0, tzinfo=UTC),) * 2
    started = datetime.fromisoformat(starter.get(f"/api/v1/cases/{case_id}").body["started_at"])
    ceiling = started + timedelta(days=deps.settings.request_ceiling_days)
    last_hour = (ceiling - timedelta(hours=1)).astimezone(timezone(timedelta(hours=14)))
    extended = supervisor.post(path, {"due_at": last_hour.isoformat(), "reason": "still abroad"})
    assert extended.status == 200, extended.body
    assert due_dates() == (ceiling - timedelta(hours=1),) * 2


def test_deciding_the_review_closes_a_pending_escalation(api, deps, clock, customer, more_users):
    case_id = _filed(api, customer)
    clock.advance(days=40)
    assert fire_due_timers(deps, SYSTEM) == 1
    reviewer = api("reviewer")
    done = reviewer.complete(reviewer.task_of(case_id, "review_change"), {"decision": "approve"})
    assert (done.body["status"], done.body["outcome"], done.body["tasks"]) == (
        "completed",
        "updated",
        [],
    )
    assert api("supervisor").get("/api/v1/tasks?scope=claimable").body["tasks"] == []


def test_the_reviewer_sees_the_requested_values_beside_the_record_and_others_see_them_masked(
    api, deps, customer, more_users
):
    case_id = _filed(api, customer)
    reviewer = api("reviewer")
    task_id = reviewer.task_of(case_id, "review_change")
    shown = reviewer.get(f"/api/v1/tasks/{task_id}")
    assert shown.status == 200, shown.body
    assert shown.body["subject_masked"] is False
    (requested,) = shown.body["requested_values"].items()
    assert requested[0] == "mobile" and requested[1].endswith(NEW_MOBILE)  # stored as +86...
    assert shown.body["subject_fields"]["mobile"].endswith(VALID_FORM["mobile"])
    with deps.unit_of_work() as uow:
        (fields,) = uow.session.scalars(
            select(AuditRecord.fields).where(
                AuditRecord.case_id == case_id, AuditRecord.action == "subject.read"
            )
        ).all()
    assert "new_mobile" in fields and "mobile" in fields

    overseer = api("compliance").get(f"/api/v1/tasks/{task_id}")
    assert overseer.status == 200, overseer.body
    assert overseer.body["subject_masked"] is True
    masked_mobile = overseer.body["requested_values"]["mobile"]
    assert NEW_MOBILE not in masked_mobile and masked_mobile.endswith(NEW_MOBILE[-4:])

    done = reviewer.complete(task_id, {"decision": "approve"})
    assert done.body["outcome"] == "updated", done.body
    after = api("compliance").get(f"/api/v1/tasks/{task_id}")
    assert "requested_values" not in after.body  # applied: nothing is pending any more


def test_auditors_read_a_changes_before_and_after_until_the_customer_is_deleted(
    api, deps, customer, more_users
):
    from tests.processes.test_deletion import _approved_by_both, _run_published_job

    case_id = applied_change(api, customer)
    with deps.unit_of_work() as uow:
        seq = uow.session.scalar(
            select(AuditRecord.seq).where(
                AuditRecord.case_id == case_id, AuditRecord.action == "subject.update"
            )
        )
        start_seq = uow.session.scalar(
            select(AuditRecord.seq).where(
                AuditRecord.case_id == case_id, AuditRecord.action == "case.start"
            )
        )
    path = f"/api/v1/audit/records/{seq}/change"
    for who in ("auditor", "compliance"):
        shown = api(who).get(path)
        assert shown.status == 200, (who, shown.body)
        assert shown.body["before"]["mobile"].endswith(VALID_FORM["mobile"])
        assert shown.body["after"]["mobile"].endswith(NEW_MOBILE)
    with deps.unit_of_work() as uow:
        reads = uow.session.execute(
            select(AuditRecord.actor, AuditRecord.fields, AuditRecord.purpose).where(
                AuditRecord.action == "subject.read",
                AuditRecord.purpose == f"audit: change log record {seq}",
            )
        ).all()
    assert [(r.actor, r.fields) for r in reads] == [
        ("auditor", ["mobile"]),
        ("compliance", ["mobile"]),
    ]
    assert api("admin").get(path).status == 403  # reads the trail, never the values
    assert api("reviewer").get(path).status == 403
    assert api("auditor").get(f"/api/v1/audit/records/{start_seq}/change").status == 404

    _approved_by_both(api)
    _run_published_job(deps)
    gone = api("auditor").get(path)
    assert gone.status == 410, gone.body
    assert "deleted" in gone.body["error"]["message"]
