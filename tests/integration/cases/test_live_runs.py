"""A case's next step in the same process resumes the run it kept, never a stale one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from service.access.service import Actor, roles_of
from service.bench.flows import APPROVE, CONSENT, subscriber_form, task_named
from service.cases import queries
from service.cases import service as cases
from service.cases.models import Case
from service.deps import Deps


def _actor(deps: Deps, user_id: int, name: str) -> Actor:
    with deps.unit_of_work() as uow:
        return Actor(user_id, name, roles_of(uow.session, user_id))


@pytest.fixture
def restores(deps, monkeypatch) -> list[str]:
    """The states the engine restored from the database."""
    seen: list[str] = []
    restore = deps.engine.restore

    def counting(diagram: Any, state: str) -> Any:
        seen.append(state)
        return restore(diagram, state)

    monkeypatch.setattr(deps.engine, "restore", counting)
    return seen


def _state(deps: Deps, case_id: str) -> str:
    with deps.unit_of_work() as uow:
        return uow.session.get_one(Case, case_id).state


def test_a_case_taken_start_to_end_in_one_process_is_never_restored(deps, users, restores):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    reviewer = _actor(deps, users["reviewer"], "reviewer")
    case = cases.start_case(deps, desk, "collection")
    case = cases.complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    case = cases.complete_task(deps, desk, task_named(case, "fill_form"), subscriber_form())
    case = cases.complete_task(deps, reviewer, task_named(case, "review"), APPROVE)
    assert (case["status"], case["outcome"]) == ("completed", "entered")
    assert restores == []


def test_a_state_written_elsewhere_is_restored_not_the_kept_run(deps, users, restores):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    case = cases.complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    # Another process (or a migration, a scrub) writes the state: the same values, other text.
    respelt = json.dumps(json.loads(_state(deps, case["id"])), indent=1)
    with deps.unit_of_work() as uow:
        uow.session.execute(
            update(Case)
            .where(Case.id == case["id"])
            .values(state=respelt, lock_version=Case.lock_version + 1)
        )
        uow.commit()
    case = cases.complete_task(deps, desk, task_named(case, "fill_form"), subscriber_form())
    assert restores == [respelt]
    assert [t["name"] for t in case["tasks"]] == ["review"]


def test_a_step_that_fails_after_taking_the_run_drops_it(deps, users, restores, monkeypatch):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    case = cases.complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    before = _state(deps, case["id"])
    mirror = cases._mirror_changes

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(cases, "_mirror_changes", failing)
    form_task = task_named(case, "fill_form")
    with pytest.raises(RuntimeError):
        cases.complete_task(deps, desk, form_task, subscriber_form())
    assert _state(deps, case["id"]) == before  # rolled back
    monkeypatch.setattr(cases, "_mirror_changes", mirror)
    # The run advanced in the failed attempt is gone: the stored state is restored.
    case = cases.complete_task(deps, desk, form_task, subscriber_form())
    assert restores == [before]
    assert [t["name"] for t in case["tasks"]] == ["review"]


def test_the_step_after_a_look_at_its_task_uses_the_run_the_look_restored(deps, users, restores):
    desk = _actor(deps, users["frontdesk"], "frontdesk")
    case = cases.start_case(deps, desk, "collection")
    case = cases.complete_task(deps, desk, task_named(case, "record_consent"), CONSENT)
    deps.engine.live.take(case["id"], None, "")  # as if another process had taken the step
    form_task = task_named(case, "fill_form")
    shown = queries.show_task(deps, desk, form_task)
    shown["case_data"]["consent_given"] = "changed by the caller"  # the view is a copy
    case = cases.complete_task(deps, desk, form_task, subscriber_form())
    assert len(restores) == 1  # by the look, not again by the step
    assert [t["name"] for t in case["tasks"]] == ["review"]
    with deps.unit_of_work() as uow:
        stored = json.loads(uow.session.get_one(Case, case["id"]).state)
    assert "changed by the caller" not in json.dumps(stored)
