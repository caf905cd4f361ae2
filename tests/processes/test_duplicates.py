"""One person, one live record: entry, collection and change requests never make a second.

A second live record of the same person would be missed by a deletion and would
make lookups by ID number or mobile ambiguous (a grant could show the wrong
person's data).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from service.access.service import Actor
from service.cases.service import complete_task
from service.errors import Conflict
from service.vault import changes
from service.vault.models import Subject
from tests.api.conftest import CONSENT, VALID_FORM
from tests.integration.vault.helpers import resident_id
from tests.processes.conftest import IDENTIFY

APPROVE = {"decision": "approve"}


def _at_review(client, form=VALID_FORM) -> tuple[str, str]:
    """A collection case with its form filled in: (case id, review task id)."""
    case = client.start()
    client.complete(client.task_of(case["id"], "record_consent"), CONSENT)
    filled = client.complete(client.task_of(case["id"], "fill_form"), form)
    assert filled.status == 200, filled.body
    return case["id"], client.task_of(case["id"], "review")


def _live(deps) -> int:
    with deps.unit_of_work() as uow:
        return uow.session.scalar(
            select(func.count()).where(Subject.status.in_(("active", "held")))
        )


def test_a_second_case_for_the_same_person_is_refused_at_entry(api, deps):
    reviewer = api("reviewer")
    first, first_review = _at_review(api("frontdesk"))
    second, second_review = _at_review(api("frontdesk2"))  # both forms pass: no live record yet
    assert reviewer.complete(first_review, APPROVE).body["outcome"] == "entered"
    refused = reviewer.complete(second_review, APPROVE)
    assert refused.status == 409, refused.body
    assert "entered meanwhile" in refused.body["error"]["message"]
    named = [detail["field"] for detail in refused.body["error"]["details"]]
    assert named == ["id_number", "mobile"]  # which one matched, the index does not say
    assert _live(deps) == 1
    case = reviewer.get(f"/api/v1/cases/{second}").body
    assert (case["status"], [t["name"] for t in case["tasks"]]) == ("running", ["review"])
    rejected = reviewer.complete(second_review, {"decision": "reject", "reason": "duplicate"})
    assert rejected.status == 200, rejected.body
    with deps.unit_of_work() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Subject)) == 1  # draft gone


def test_two_entries_of_the_same_person_at_the_same_moment_make_one_record(
    api, deps, users, backend
):
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time; the race needs concurrent writers")
    reviewer = Actor(users["reviewer"], "reviewer", frozenset({"reviewer"}))

    def approve(task_id: str, start: threading.Barrier, outcomes: list[str]) -> None:
        start.wait()
        try:
            outcomes.append(complete_task(deps, reviewer, task_id, APPROVE)["outcome"])
        except Conflict:
            outcomes.append("conflict")

    for round_ in range(3):
        form = dict(VALID_FORM, id_number=resident_id(f"11010519800102{round_:02d}1"))
        form["mobile"] = f"1391234{round_:04d}"
        reviews = [_at_review(api(desk), form)[1] for desk in ("frontdesk", "frontdesk2")]
        start, outcomes = threading.Barrier(2), []
        threads = [
            threading.Thread(target=approve, args=(task, start, outcomes)) for task in reviews
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["conflict", "entered"], outcomes
        assert _live(deps) == round_ + 1


def test_a_mobile_number_on_record_for_someone_else_is_named_as_such(api, deps):
    reviewer = api("reviewer")
    _, review = _at_review(api("frontdesk"))
    assert reviewer.complete(review, APPROVE).body["outcome"] == "entered"
    desk = api("frontdesk2")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    other_person = dict(VALID_FORM, id_number=resident_id("11010519800101003"))
    refused = desk.complete(desk.task_of(case["id"], "fill_form"), other_person)
    assert refused.status == 409, refused.body
    assert refused.body["error"]["details"][0]["field"] == "mobile"
    assert "reassigned" in refused.body["error"]["message"]


def test_a_change_to_another_customers_mobile_is_refused_when_filed_and_when_applied(
    api, deps, customer, more_users
):
    desk, reviewer = api("frontdesk"), api("reviewer")
    taken = "13900002222"
    other_form = dict(VALID_FORM, id_number=resident_id("11010519800101004"), mobile="13900003333")
    other_case, other_review = _at_review(api("frontdesk2"), other_form)
    assert reviewer.complete(other_review, APPROVE).body["outcome"] == "entered"

    # Filed while the number is free; the other customer takes it before the review.
    case = desk.start("update")
    request = IDENTIFY | {"new_mobile": taken, "reason": "new phone"}
    assert desk.complete(desk.task_of(case["id"], "file_change_request"), request).status == 200
    other_subject = reviewer.get(f"/api/v1/cases/{other_case}").body["subject"]
    second = api("frontdesk2").start("update")
    other_request = {
        "id_type": "resident_id",
        "id_number": other_form["id_number"],
        "new_mobile": taken,
        "reason": "new phone",
    }
    filed = api("frontdesk2").complete(
        api("frontdesk2").task_of(second["id"], "file_change_request"), other_request
    )
    assert filed.status == 200, filed.body
    applied = api("reviewer2").complete(
        api("reviewer2").task_of(second["id"], "review_change"), APPROVE
    )
    assert applied.body["outcome"] == "updated", applied.body
    assert applied.body["subject"] == other_subject

    late = reviewer.complete(reviewer.task_of(case["id"], "review_change"), APPROVE)
    assert late.status == 409, late.body
    assert late.body["error"]["details"][0]["field"] == "new_mobile"

    third = desk.start("update")
    early = desk.complete(desk.task_of(third["id"], "file_change_request"), request)
    assert early.status == 409, early.body
    assert early.body["error"]["details"][0]["field"] == "new_mobile"


def test_a_new_id_number_of_another_customer_is_refused(api, deps, customer):
    other_number = resident_id("11010519800101005")
    _, review = _at_review(
        api("frontdesk2"), dict(VALID_FORM, id_number=other_number, mobile="13900004444")
    )
    assert api("reviewer").complete(review, APPROVE).body["outcome"] == "entered"
    with deps.unit_of_work() as uow, pytest.raises(Conflict) as refused:
        changes.check_not_taken(uow, deps.keys, customer, {"id_number": other_number})
    assert refused.value.details[0]["field"] == "new_id_number"
    with deps.unit_of_work() as uow:
        changes.check_not_taken(uow, deps.keys, customer, {"id_number": VALID_FORM["id_number"]})
