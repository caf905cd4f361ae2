"""Legal holds through the HTTP API: compliance places and releases them, the deletion obeys.

A subject under hold is stored and secured only; releasing the last hold runs the
deletion it held up to its certificate. Every refusal is a 4xx naming the field
and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service.access.service import Actor
from service.audit.models import AuditRecord
from service.vault.models import DataKey, DeletionCertificate, LegalHold, Subject
from service.vault.shredding import SHRED_JOB, shred_subject
from tests.conftest import add_user
from tests.integration.vault.helpers import resident_id
from tests.processes.conftest import IDENTIFY
from tests.processes.test_deletion import _approved_by_both, _case

SYSTEM = Actor(0, "system", frozenset({"system"}))
COURT = {"kind": "legal_hold", "reason": "court order 2030-17"}


def _holds(deps) -> int:
    with deps.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(LegalHold))


def _records(deps, action: str) -> list[tuple[str, str | None, str | None]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(AuditRecord.actor, AuditRecord.subject, AuditRecord.reason)
            .where(AuditRecord.action == action)
            .order_by(AuditRecord.seq)
        )
        return [tuple(row) for row in rows]


def _shred_jobs(deps) -> list[dict]:
    return [kwargs for _, name, kwargs in deps.extras["published"] if name == SHRED_JOB]


def _run_shred_job(deps, job: dict) -> None:
    from service.vault.models import DeletionRequest

    with deps.unit_of_work() as uow:
        request = uow.session.get_one(DeletionRequest, job["request_id"])
        subject, case_id = request.subject, request.case_id
    shred_subject(deps, SYSTEM, subject, case_id, job["request_id"])


def _notices(deps, case_id: str) -> list[tuple[str, str]]:
    """(template, what happened) of the case's notifications, in order (no gateway here)."""
    with deps.unit_of_work() as uow:
        told = uow.session.execute(
            select(AuditRecord.detail, AuditRecord.action)
            .where(AuditRecord.case_id == case_id, AuditRecord.action.like("notification.%"))
            .order_by(AuditRecord.seq)
        )
        return [(detail["template"], action) for detail, action in told]


def _status(deps, subject: str) -> str:
    with deps.unit_of_work() as uow:
        return uow.session.get_one(Subject, subject).status


def test_compliance_places_a_hold_that_auditors_see_and_the_audit_trail_records(
    api, deps, customer, clock
):
    placed = api("compliance").post("/api/v1/holds", COURT | {"subject": customer})
    assert placed.status == 201, placed.body
    hold = placed.body
    assert (hold["subject"], hold["kind"], hold["reason"]) == (customer, *COURT.values())
    assert (hold["placed_by"], hold["active"], hold["until"], hold["released_at"]) == (
        "compliance",
        True,
        None,
        None,
    )
    assert _records(deps, "subject.hold") == [("compliance", customer, COURT["reason"])]

    for who in ("auditor", "officer", "compliance"):
        listed = api(who).get(f"/api/v1/holds?subject={customer}")
        assert listed.status == 200, (who, listed.body)
        assert [h["id"] for h in listed.body["holds"]] == [hold["id"]]
    assert api("auditor").get("/api/v1/holds?subject=sub_other").body["holds"] == []


@pytest.mark.parametrize("who", ["frontdesk", "reviewer", "dept", "owner", "auditor"])
def test_only_compliance_and_data_officers_place_holds_and_a_refusal_changes_nothing(
    api, deps, customer, who
):
    refused = api(who).post("/api/v1/holds", COURT | {"subject": customer})
    assert refused.status == 403, refused.body
    assert _holds(deps) == 0
    assert _records(deps, "subject.hold") == []
    assert [actor for actor, _, _ in _records(deps, "access.denied")] == [who]


def test_front_desk_may_not_list_holds(api, customer):
    assert api("frontdesk").get("/api/v1/holds").status == 403


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kind": "legal_hold", "reason": "x"}, "subject", "pseudonym, or id_type"),
        ({"subject": "SUBJECT", "reason": "x"}, "kind", "non-empty string"),
        ({"subject": "SUBJECT", "kind": "forever", "reason": "x"}, "kind", "legal_hold"),
        ({"subject": "SUBJECT", "kind": "legal_hold", "reason": "  "}, "reason", "non-empty"),
        ({"subject": "SUBJECT", "kind": "legal_hold", "reason": "r" * 201}, "reason", "200"),
        ({"subject": "SUBJECT", "kind": "retention", "reason": "x"}, "until", "date it ends"),
        (
            {"subject": "SUBJECT", "kind": "retention", "reason": "x", "until": "2031-01-01"},
            "until",
            "time zone",
        ),
        (
            {"subject": "SUBJECT", "kind": "retention", "reason": "x", "until": "next year"},
            "until",
            "ISO 8601",
        ),
        (
            {
                "subject": "SUBJECT",
                "kind": "retention",
                "reason": "x",
                "until": "2020-01-01T00:00Z",
            },
            "until",
            "in the future",
        ),
        ({"subject": "SUBJECT", "kind": "legal_hold", "reason": 17}, "reason", "string"),
    ],
)
def test_a_bad_hold_is_a_422_naming_the_field_and_nothing_is_stored(
    api, deps, customer, body, field, words
):
    sent = {k: (customer if v == "SUBJECT" else v) for k, v in body.items()}
    refused = api("compliance").post("/api/v1/holds", sent)
    assert refused.status == 422, refused.body
    details = refused.body["error"]["details"]
    assert [d["field"] for d in details] == [field]
    assert words in details[0]["reason"]
    assert _holds(deps) == 0
    assert _records(deps, "subject.hold") == []


def test_a_hold_on_an_unknown_subject_is_a_404_and_a_body_that_is_not_an_object_a_422(
    api, deps, customer
):
    compliance = api("compliance")
    assert compliance.post("/api/v1/holds", COURT | {"subject": "sub_nobody"}).status == 404
    not_object = compliance.post("/api/v1/holds", ["a", "list"])
    assert not_object.status == 422
    assert not_object.body["error"]["details"][0]["field"] == "body"
    assert compliance.get("/api/v1/holds?state=forever").body["error"]["details"][0] == {
        "field": "state",
        "reason": "one of ['active', 'released', 'all']",
    }
    assert _holds(deps) == 0


def test_a_retention_period_ends_on_its_date_and_lists_as_released(api, customer, clock):
    until = (clock() + timedelta(days=30)).isoformat()
    placed = api("officer").post(
        "/api/v1/holds",
        {"subject": customer, "kind": "retention", "reason": "billing dispute", "until": until},
    )
    assert placed.status == 201, placed.body
    auditor = api("auditor")
    assert [h["id"] for h in auditor.get("/api/v1/holds").body["holds"]] == [placed.body["id"]]
    clock.advance(days=31)
    assert auditor.get("/api/v1/holds").body["holds"] == []
    released = auditor.get("/api/v1/holds?state=released").body["holds"]
    assert [(h["id"], h["active"]) for h in released] == [(placed.body["id"], False)]
    assert len(auditor.get("/api/v1/holds?state=all").body["holds"]) == 1


def test_releasing_the_hold_runs_the_deletion_it_held_up_to_its_certificate(
    api, deps, customer, more_users
):
    compliance = api("compliance")
    hold = compliance.post("/api/v1/holds", COURT | {"subject": customer}).body
    case_id = _approved_by_both(api)
    (job,) = _shred_jobs(deps)
    _run_shred_job(deps, job)
    assert _case(deps, case_id) == ("completed", "secured_only")
    assert _status(deps, customer) == "held"

    no_reason = compliance.post(f"/api/v1/holds/{hold['id']}/release", {})
    assert no_reason.status == 422
    assert no_reason.body["error"]["details"][0]["field"] == "reason"
    assert api("auditor").post(f"/api/v1/holds/{hold['id']}/release", {"reason": "x"}).status == 403
    assert len(_shred_jobs(deps)) == 1  # neither refusal released anything

    released = compliance.post(
        f"/api/v1/holds/{hold['id']}/release", {"reason": "court order lifted 2031-02"}
    )
    assert released.status == 200, released.body
    assert (released.body["active"], released.body["deletions_resumed"]) == (False, 1)
    assert released.body["released_at"] is not None
    assert _records(deps, "subject.hold_released") == [
        ("compliance", customer, "court order lifted 2031-02")
    ]
    again = compliance.post(f"/api/v1/holds/{hold['id']}/release", {"reason": "twice"})
    assert again.status == 409, again.body
    assert compliance.post("/api/v1/holds/nope/release", {"reason": "x"}).status == 404

    jobs = _shred_jobs(deps)
    assert len(jobs) == 2 and jobs[1] == jobs[0]
    _run_shred_job(deps, jobs[1])
    assert _status(deps, customer) == "shredded"
    with deps.unit_of_work() as uow:
        assert uow.keystore.get(DataKey, customer) is None
        assert uow.session.scalar(select(func.count()).select_from(DeletionCertificate)) == 1
    # Told first that the data is kept under a hold; the deletion's confirmation, sealed at
    # approval, is tried as the key is destroyed (no gateway here, so it fails), and the held
    # notice, still unsent, is given up with the key.
    told = [
        ("deletion_done", "notification.sealed"),
        ("deletion_held", "notification.queued"),
        ("deletion_done", "notification.failed"),
        ("deletion_held", "notification.failed"),
    ]
    assert _notices(deps, case_id) == told
    _run_shred_job(deps, jobs[1])  # a redelivered job
    assert _notices(deps, case_id) == told

    gone = compliance.post("/api/v1/holds", COURT | {"subject": customer})
    assert gone.status == 409, gone.body
    assert "deleted" in gone.body["error"]["message"]


def test_a_hold_names_the_person_by_id_number_as_the_court_order_does(api, deps, customer):
    compliance = api("compliance")
    placed = compliance.post("/api/v1/holds", COURT | IDENTIFY)
    assert placed.status == 201, placed.body
    assert placed.body["subject"] == customer
    with deps.unit_of_work() as uow:
        (detail,) = uow.session.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "subject.hold")
        ).all()
        stored = [str(row) for row in uow.session.execute(select(AuditRecord.__table__)).all()]
    assert detail["identified_by"] == ["id_number", "id_type"]
    assert not any(IDENTIFY["id_number"] in row for row in stored)
    assert IDENTIFY["id_number"] not in str(placed.body)


def test_an_id_number_nobody_has_is_a_404_recorded_as_a_lookup_and_nothing_held(
    api, deps, customer
):
    stranger = {"id_type": "resident_id", "id_number": resident_id("11010519800101001")}
    missed = api("compliance").post("/api/v1/holds", COURT | stranger)
    assert missed.status == 404, missed.body
    assert _holds(deps) == 0
    with deps.unit_of_work() as uow:
        lookups = uow.session.execute(
            select(AuditRecord.actor, AuditRecord.subject, AuditRecord.purpose).where(
                AuditRecord.action == "subject.lookup"
            )
        ).all()
    assert [tuple(row) for row in lookups] == [("compliance", None, "legal hold")]


@pytest.mark.parametrize(
    ("identity", "field"),
    [
        ({"subject": "SUBJECT"} | IDENTIFY, "subject"),
        ({}, "subject"),
        ({"id_type": "resident_id", "id_number": "110105194912310021"}, "id_number"),
        ({"id_type": "resident_id"}, "id_number"),
        ({"id_type": "resident_id", "id_number": 110105}, "id_number"),
    ],
)
def test_naming_the_person_wrongly_is_a_422_naming_the_field(api, deps, customer, identity, field):
    sent = {k: (customer if v == "SUBJECT" else v) for k, v in identity.items()}
    refused = api("compliance").post("/api/v1/holds", COURT | sent)
    assert refused.status == 422, refused.body
    assert [d["field"] for d in refused.body["error"]["details"]] == [field]
    assert "110105" not in str(refused.body)
    assert _holds(deps) == 0


def test_the_list_is_newest_first_and_limited(api, customer, clock):
    officer = api("officer")
    placed = []
    for n in range(3):
        reply = officer.post("/api/v1/holds", COURT | {"subject": customer, "reason": f"order {n}"})
        placed.append(reply.body["id"])
        clock.advance(minutes=1)
    listed = officer.get("/api/v1/holds?limit=2").body["holds"]
    assert [h["id"] for h in listed] == placed[::-1][:2]
    refused = officer.get("/api/v1/holds?limit=0")
    assert refused.status == 422
    assert refused.body["error"]["details"][0]["field"] == "limit"


def test_a_data_officer_whose_training_lapsed_sees_holds_but_places_none(
    api, deps, customer, clock
):
    add_user(deps, "lapsed_officer", ["data_officer"], trained_days=10)
    clock.advance(days=11)
    officer = api("lapsed_officer")
    assert officer.get("/api/v1/holds").status == 200
    refused = officer.post("/api/v1/holds", COURT | IDENTIFY)
    assert refused.status == 403, refused.body
    assert refused.body["error"]["message"].startswith("training personal_data_protection expired")
    assert _holds(deps) == 0
    assert [actor for actor, _, _ in _records(deps, "access.training_gate")] == ["lapsed_officer"]
    assert _records(deps, "subject.lookup") == []
