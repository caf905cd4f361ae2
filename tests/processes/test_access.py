"""The customer's own access request (PIPL Art. 45): filed at the counter, reviewed by someone
else, then the whole record in clear for the one who filed it, with the record of its
processing to print for the customer."""

from __future__ import annotations

from sqlalchemy import select

from service.audit.models import AuditRecord
from tests.api.conftest import VALID_FORM
from tests.processes.conftest import IDENTIFY
from tests.processes.test_query import _granted

REQUEST = IDENTIFY | {"identity_checked": True}


def _filed(api) -> str:
    desk = api("frontdesk")
    case = desk.start("access")
    filed = desk.complete(desk.task_of(case["id"], "file_access_request"), REQUEST)
    assert filed.status == 200, filed.body
    return case["id"]


def test_an_approved_access_request_gives_the_filer_the_whole_record_and_its_processing(
    api, deps, customer, more_users
):
    _granted(api, ["mobile"])  # a department's query: it shows in the record
    case_id = _filed(api)
    reviewer = api("reviewer2")
    done = reviewer.complete(reviewer.task_of(case_id, "review_access"), {"decision": "approve"})
    assert done.body["outcome"] == "granted", done.body

    desk = api("frontdesk")
    (grant,) = desk.get("/api/v1/grants").body["grants"]
    assert (grant["purpose"], grant["legal_basis"]) == ("subject_access", "legal_obligation")
    assert grant["fields"] == sorted(["address", "id_number", "id_type", "mobile", "name"])
    values = desk.post(f"/api/v1/grants/{grant['id']}/read", {}).body["values"]
    assert values["name"] == VALID_FORM["name"]
    assert values["id_number"] == VALID_FORM["id_number"]

    record = desk.get(f"/api/v1/grants/{grant['id']}/record")
    assert record.status == 200, record.body
    body = record.body
    # The collection's consent, and the ID number's own (sensitive information, PIPL Art. 29).
    assert [(c["purpose"], c["sensitive"]) for c in body["consents"]] == [
        ("service_contract", False),
        ("service_contract", True),
    ]
    procedures = [(c["procedure"], c["outcome"]) for c in body["cases"]]
    assert ("collection", "entered") in procedures and ("query", "granted") in procedures
    ((given),) = body["disclosures"]
    assert (given["fields"], given["purpose"], given["legal_basis"]) == (
        ["mobile"],
        "billing_dispute",
        "contract",
    )
    assert VALID_FORM["mobile"] not in str(body) and VALID_FORM["name"] not in str(body)
    with deps.unit_of_work() as uow:
        reads = uow.session.scalars(
            select(AuditRecord.actor).where(AuditRecord.action == "subject.access_record")
        ).all()
    assert reads == ["frontdesk"]


def test_the_record_comes_only_with_an_access_grant_and_only_to_its_holder(
    api, deps, customer, more_users
):
    _granted(api, ["mobile"])
    (query_grant,) = api("dept").get("/api/v1/grants").body["grants"]
    assert api("dept").get(f"/api/v1/grants/{query_grant['id']}/record").status == 404
    case_id = _filed(api)
    api("reviewer2").complete(
        api("reviewer2").task_of(case_id, "review_access"), {"decision": "approve"}
    )
    (grant,) = api("frontdesk").get("/api/v1/grants").body["grants"]
    assert api("frontdesk2").get(f"/api/v1/grants/{grant['id']}/record").status == 404
    assert api("dept").get(f"/api/v1/grants/{grant['id']}/record").status == 404


def test_a_refused_access_request_gives_nothing(api, deps, customer, more_users):
    case_id = _filed(api)
    reviewer = api("reviewer")
    done = reviewer.complete(
        reviewer.task_of(case_id, "review_access"),
        {"decision": "reject", "review_reason": "the person was not the customer"},
    )
    assert done.body["outcome"] == "refused", done.body
    assert api("frontdesk").get("/api/v1/grants").body["grants"] == []


def test_the_identity_check_is_required(api, deps, customer):
    desk = api("frontdesk")
    case = desk.start("access")
    task_id = desk.task_of(case["id"], "file_access_request")
    unchecked = desk.complete(task_id, IDENTIFY | {"identity_checked": False})
    assert unchecked.status == 422, unchecked.body
    assert unchecked.body["error"]["details"][0]["field"] == "identity_checked"
    missing = desk.complete(task_id, IDENTIFY)
    assert missing.status == 422
    assert desk.task_of(case["id"], "file_access_request") == task_id  # nothing changed
