"""The periodic review: started by its timer under an injected clock, with figures and feedback."""

from __future__ import annotations

from sqlalchemy import select

from service.cases import service as cases
from service.cases.queries import show_task
from service.definitions import feedback, review, versions
from service.definitions.models import ProcedureReview, ProcedureVersion
from tests.integration.definitions.helpers import actor, collection_at, decide


def _some_history(deps, users, clock) -> None:
    # One customer: rejected first, then entered (the vault refuses a second entry).
    rejected = collection_at(deps, users, "review")
    clock.advance(hours=1)
    decide(deps, users, rejected, "reject")
    entered = collection_at(deps, users, "review")
    clock.advance(hours=5)
    decide(deps, users, entered, "approve")
    feedback.leave_feedback(
        deps,
        actor(deps, users, "reviewer"),
        "collection",
        text="The review form needs a field for the proof document checked",
        step="review",
    )


def test_the_review_starts_when_due_and_carries_figures_and_feedback(deps, users, clock):
    _some_history(deps, users, clock)
    assert review.start_due_reviews(deps) == []  # the schedule is made, nothing due yet
    clock.advance(days=93)
    started_for = review.start_due_reviews(deps)
    assert "collection" in started_for and "procedure_review" not in started_for
    assert review.start_due_reviews(deps) == []  # one at a time

    with deps.unit_of_work() as uow:
        started = uow.session.scalar(
            select(ProcedureReview).where(ProcedureReview.procedure == "collection")
        )
        assert started.trigger == "timer" and started.procedure == "collection"
        case_id = started.case_id
    owner = actor(deps, users, "owner")
    task_id = _review_task(deps, case_id)
    task = show_task(deps, owner, task_id)
    gathered = task["case_data"]["review"]
    assert gathered["procedure"] == "collection"
    assert gathered["figures"]["outcomes"] == {"entered": 1, "rejected": 1}
    assert gathered["figures"]["steps"]["review"]["done"] == 2
    assert gathered["figures"]["steps"]["review"]["rejection_rate"] == 0.5
    assert gathered["figures"]["steps"]["review"]["median_hours"] == 1.0
    assert gathered["figures"]["steps"]["review"]["p90_hours"] == 5.0
    assert [f["text"] for f in gathered["feedback"]] == [
        "The review form needs a field for the proof document checked"
    ]


def test_a_new_draft_outcome_opens_a_draft_that_goes_through_compliance(deps, users, clock):
    owner = actor(deps, users, "owner")
    started = review.start_review_by_hand(deps, owner, "collection")
    task_id = _review_task(deps, started["case_id"])
    done = cases.complete_task(
        deps, owner, task_id, {"outcome": "new_draft", "reasons": "add the proof field"}
    )
    assert done["outcome"] == "new_draft"
    with deps.unit_of_work() as uow:
        row = uow.session.scalar(select(ProcedureReview))
        draft = uow.session.get_one(ProcedureVersion, row.draft_version_id)
        assert (draft.status, draft.author_id, row.outcome) == ("draft", None, "new_draft")
        draft_id, bpmn, forms = draft.id, draft.bpmn, dict(draft.forms)
    saved = versions.save_draft(deps, owner, draft_id, bpmn, forms, None)
    assert saved["author"] == "owner"
    assert versions.submit_version(deps, owner, draft_id)["status"] == "in_review"


def test_no_change_is_recorded_with_its_reasons(deps, users):
    owner = actor(deps, users, "owner")
    started = review.start_review_by_hand(deps, owner, "collection")
    task_id = _review_task(deps, started["case_id"])
    done = cases.complete_task(deps, owner, task_id, {"outcome": "no_change", "reasons": "fine"})
    assert done["outcome"] == "no_change"
    [listed] = review.list_reviews(deps, owner, "collection")
    assert listed["outcome"] == "no_change" and listed["draft_version_id"] is None


def _review_task(deps, case_id: str) -> str:
    from service.cases.models import Task

    with deps.unit_of_work() as uow:
        return uow.session.scalar(
            select(Task.id).where(Task.case_id == case_id, Task.status == "open")
        )
