"""The deletion procedure (mission 3.5): two approvals, then unrecoverable deletion."""

from __future__ import annotations

import json

from sqlalchemy import select

from service.access.service import Actor
from service.cases.models import Case
from service.notifications import Notification
from service.vault import holds
from service.vault.models import DataKey, DeletionCertificate, Subject
from service.vault.shredding import shred_subject
from tests.processes.conftest import IDENTIFY, actions

REQUEST = IDENTIFY | {"reason": "withdrawn_consent", "reason_detail": "customer closed account"}


def _approved_by_both(api) -> str:
    desk, reviewer, officer = api("frontdesk"), api("reviewer"), api("officer")
    case = desk.start("deletion")
    filed = desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST)
    assert filed.status == 200, filed.body
    reviewed = reviewer.complete(
        reviewer.task_of(case["id"], "review_deletion"), {"decision": "approve"}
    )
    assert reviewed.status == 200, reviewed.body
    approved = officer.complete(
        officer.task_of(case["id"], "approve_deletion"), {"decision": "approve"}
    )
    assert approved.status == 200, approved.body
    assert (approved.body["status"], approved.body["tasks"]) == ("running", [])
    return case["id"]


def _run_published_job(deps) -> None:
    """What the deletion worker does with the job the case published (same use case)."""
    from service.vault.models import DeletionRequest

    jobs = [kw for _, name, kw in deps.extras["published"] if name == "datasteward.deletion.shred"]
    assert len(jobs) == 1
    with deps.unit_of_work() as uow:
        request = uow.session.get_one(DeletionRequest, jobs[0]["request_id"])
        subject, case_id = request.subject, request.case_id
    shred_subject(
        deps, Actor(0, "system", frozenset({"system"})), subject, case_id, jobs[0]["request_id"]
    )


def _case(deps, case_id: str) -> tuple[str, str | None]:
    with deps.unit_of_work() as uow:
        case = uow.session.get_one(Case, case_id)
        return case.status, case.outcome


def test_approved_deletion_waits_for_the_worker_then_ends_deleted(api, deps, customer, more_users):
    case_id = _approved_by_both(api)
    assert _case(deps, case_id) == ("running", None)
    _run_published_job(deps)
    assert _case(deps, case_id) == ("completed", "deleted")
    with deps.unit_of_work() as uow:
        assert uow.keystore.get(DataKey, customer) is None
        assert uow.session.get_one(Subject, customer).status == "shredded"
        certificates = uow.session.scalars(select(DeletionCertificate.id)).all()
        templates = uow.session.scalars(
            select(Notification.template).where(Notification.case_id == case_id)
        ).all()
    assert len(certificates) == 1
    assert templates == ["deletion_done"]
    history = api("auditor").get(f"/api/v1/cases/{case_id}")
    assert history.status == 200
    assert ("system", "case.resume", "done") in actions(deps, case_id)


def test_legal_hold_takes_the_secured_only_path(api, deps, customer, more_users):
    compliance = Actor(more_users["compliance"], "compliance", frozenset({"compliance"}))
    holds.place_hold(deps, compliance, customer, "legal_hold", "court order 2030-17", None)
    case_id = _approved_by_both(api)
    _run_published_job(deps)
    assert _case(deps, case_id) == ("completed", "secured_only")
    with deps.unit_of_work() as uow:
        assert uow.keystore.get(DataKey, customer) is not None
        assert uow.session.get_one(Subject, customer).status == "held"


def refused_at_review(api) -> str:
    """A deletion request the reviewer refuses; returns the case id."""
    desk, reviewer = api("frontdesk"), api("reviewer")
    case = desk.start("deletion")
    filed = desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST)
    assert filed.status == 200, filed.body
    done = reviewer.complete(
        reviewer.task_of(case["id"], "review_deletion"),
        {"decision": "reject", "review_reason": "proof not genuine"},
    )
    assert done.body["outcome"] == "refused", done.body
    return case["id"]


def test_reviewer_refuses_deletion(api, deps, customer, more_users):
    refused_at_review(api)
    with deps.unit_of_work() as uow:
        assert uow.session.get_one(Subject, customer).status == "active"


def test_data_officer_refuses_the_second_approval(api, deps, customer, more_users):
    desk, reviewer, officer = api("frontdesk"), api("reviewer"), api("officer")
    case = desk.start("deletion")
    desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST)
    reviewer.complete(reviewer.task_of(case["id"], "review_deletion"), {"decision": "approve"})
    done = officer.complete(
        officer.task_of(case["id"], "approve_deletion"),
        {"decision": "reject", "approval_reason": "retention period applies"},
    )
    assert done.body["outcome"] == "refused"
    assert [n for _, n, _ in deps.extras["published"] if n.startswith("datasteward.deletion")] == []


def test_the_approver_sees_the_requests_legal_ground_not_the_reviewers_words(
    api, deps, customer, more_users
):
    desk, reviewer, officer = api("frontdesk"), api("reviewer"), api("officer")
    case = desk.start("deletion")
    desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST)
    reviewed = reviewer.complete(
        reviewer.task_of(case["id"], "review_deletion"),
        {"decision": "approve", "review_reason": "proof checked against the contract"},
    )
    assert reviewed.status == 200, reviewed.body
    shown = officer.get(f"/api/v1/tasks/{officer.task_of(case['id'], 'approve_deletion')}")
    assert shown.status == 200, shown.body
    data = shown.body["case_data"]
    assert (data["reason"], data["reason_detail"]) == (
        "withdrawn_consent",
        "customer closed account",
    )
    assert data["review_reason"] == "proof checked against the contract"


def test_a_review_form_refuses_the_old_field_name_and_changes_nothing(
    api, deps, customer, more_users
):
    desk, reviewer = api("frontdesk"), api("reviewer")
    case = desk.start("deletion")
    desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST)
    task_id = reviewer.task_of(case["id"], "review_deletion")
    refused = reviewer.complete(task_id, {"decision": "reject", "reason": "proof not genuine"})
    assert refused.status == 422, refused.body
    assert _case(deps, case["id"]) == ("running", None)
    assert reviewer.task_of(case["id"], "review_deletion") == task_id


def test_reviewer_cannot_also_give_the_second_approval(api, deps, customer, more_users):
    desk, both = api("frontdesk"), api("review_officer")
    case = desk.start("deletion")
    desk.complete(desk.task_of(case["id"], "file_deletion_request"), REQUEST)
    both.complete(both.task_of(case["id"], "review_deletion"), {"decision": "approve"})
    refused = both.complete(both.task_of(case["id"], "approve_deletion"), {"decision": "approve"})
    assert refused.status == 403
    assert "separation of duties" in refused.body["error"]["message"]
    assert ("review_officer", "task.complete", "refused") in actions(deps, case["id"])
    assert _case(deps, case["id"]) == ("running", None)


def test_the_deletion_certificate_is_served_to_oversight_and_checks_offline(
    api, deps, settings, customer, more_users, tmp_path, capsys
):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from service.cli import main
    from service.signing import public_key_pem

    case_id = _approved_by_both(api)
    _run_published_job(deps)
    with deps.unit_of_work() as uow:
        (certificate_id,) = uow.session.scalars(select(DeletionCertificate.id)).all()
    path = f"/api/v1/certificates/{certificate_id}"
    for who in ("auditor", "compliance", "officer"):
        shown = api(who).get(path)
        assert shown.status == 200, (who, shown.body)
        assert shown.body["verified"] is True
        assert (shown.body["body"]["subject"], shown.body["body"]["case_id"]) == (customer, case_id)
    assert api("frontdesk").get(path).status == 403
    assert api("auditor").get("/api/v1/certificates/nope").status == 404

    document = api("auditor").get(path).body
    service_key = tmp_path / "service.pem"
    service_key.write_bytes(public_key_pem(settings))
    other_key = tmp_path / "other.pem"
    other_key.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )

    def verify(doc, key) -> tuple[int, str]:
        file = tmp_path / "certificate.json"
        file.write_text(json.dumps(doc), encoding="utf-8")
        code = main(["certificates", "verify", str(file), "--public-key", str(key)])
        out = capsys.readouterr()
        return code, out.out + out.err

    code, said = verify(document, service_key)
    assert code == 0 and f"OK certificate {certificate_id}" in said, said
    forged = json.loads(json.dumps(document))
    forged["body"]["subject"] = "sub_someone_else"
    code, said = verify(forged, service_key)
    assert code == 1 and "signature does not match" in said, said
    code, said = verify(document, other_key)
    assert code == 1 and "not the service's public key" in said, said
    code, said = verify({"body": "x"}, service_key)
    assert code == 1 and "no body object" in said, said


def test_a_grant_to_a_deleted_customers_data_shows_so_and_reads_nothing(
    api, deps, customer, more_users
):
    from tests.processes.test_query import _granted

    grant_id = _granted(api, ["name"])
    _approved_by_both(api)
    _run_published_job(deps)
    dept = api("dept")
    (listed,) = dept.get("/api/v1/grants").body["grants"]
    assert (listed["id"], listed["customer_deleted"], listed["views"]) == (grant_id, True, 0)
    shown = dept.get(f"/api/v1/grants/{grant_id}")
    assert shown.status == 200 and shown.body["masked"] == {}, shown.body
    read = dept.post(f"/api/v1/grants/{grant_id}/read")
    assert read.status == 403
    assert (
        read.body["error"]["message"]
        == "the customer's data has been deleted; nothing is left to show"
    )
    assert dept.get(f"/api/v1/grants/{grant_id}").body["views"] == 0
