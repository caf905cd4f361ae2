"""Migration of waiting cases to a newer version: dry run, then migrate under the lock."""

from __future__ import annotations

from sqlalchemy import select

from service.audit.models import AuditRecord
from service.cases import migration
from service.cases import service as cases
from service.cases.models import Case, Task
from service.definitions import versions
from tests.api.conftest import VALID_FORM
from tests.integration.definitions.helpers import actor, collection_at, decide, open_task
from tests.integration.vault.helpers import resident_id

# The new version gives the form-filling step a deadline: a change to a step's behaviour.
DEADLINE = (
    '<spiffworkflow:property name="form" value="collection_form" />',
    '<spiffworkflow:property name="form" value="collection_form" />\n'
    '          <spiffworkflow:property name="due" value="P2D" />',
)


def _publish_new_version(deps, users) -> dict:
    owner, compliance = actor(deps, users, "owner"), actor(deps, users, "compliance")
    draft = versions.create_draft(deps, owner, "collection", "deadline for the form")
    shown = versions.show_version(deps, owner, draft["id"])
    bpmn = shown["bpmn"].replace(*DEADLINE)
    assert versions.save_draft(deps, owner, draft["id"], bpmn, shown["forms"], None)["report"] == []
    versions.submit_version(deps, owner, draft["id"])
    versions.approve_version(deps, compliance, draft["id"], "ok")
    return versions.publish_version(deps, compliance, draft["id"])


def test_dry_run_then_migrate_moves_only_the_cases_that_can_move(deps, users):
    at_consent = collection_at(deps, users, "record_consent")
    at_form = collection_at(deps, users, "fill_form")
    at_review = collection_at(deps, users, "review")
    finished = decide(deps, users, collection_at(deps, users, "review"), "approve")
    target = _publish_new_version(deps, users)
    compliance = actor(deps, users, "compliance")

    plan = migration.dry_run(deps, compliance, "collection")
    by_case = {c["case_id"]: c for c in plan["cases"]}
    assert plan["target"]["number"] == 2 and finished["id"] not in by_case
    assert by_case[at_consent["id"]]["can_move"] is True
    assert by_case[at_form["id"]] | {"reasons": []} == by_case[at_form["id"]]
    assert by_case[at_form["id"]]["waiting_at"] == ["fill_form"]
    blocked = by_case[at_review["id"]]
    assert blocked["can_move"] is False and blocked["waiting_at"] == ["review"]
    assert "'fill_form' was already done" in blocked["reasons"][0]

    result = migration.migrate_cases(deps, compliance, "collection")
    assert sorted(result["moved"]) == sorted([at_consent["id"], at_form["id"]])
    assert [n["case_id"] for n in result["not_moved"]] == [at_review["id"]]
    _check_moved_and_pinned(deps, target["id"], at_form["id"], at_review["id"])

    desk = actor(deps, users, "frontdesk")
    # Another customer: the one in VALID_FORM was entered by the finished case.
    other = VALID_FORM | {"id_number": resident_id("11010519800101002"), "mobile": "13912340002"}
    moved = cases.complete_task(deps, desk, open_task(at_form, "fill_form"), other)
    assert [t["name"] for t in moved["tasks"]] == ["review"]
    assert decide(deps, users, at_review, "reject")["outcome"] == "rejected"


def _check_moved_and_pinned(deps, target_id: int, moved_id: str, pinned_id: str) -> None:
    with deps.unit_of_work() as uow:
        moved, pinned = uow.session.get_one(Case, moved_id), uow.session.get_one(Case, pinned_id)
        assert moved.version_id == target_id and moved.lock_version == 3
        assert pinned.version_id != target_id
        open_rows = uow.session.scalars(
            select(Task.spec_name).where(Task.case_id == moved_id, Task.status == "open")
        )
        assert list(open_rows) == ["fill_form"]
        audited = uow.session.execute(
            select(AuditRecord.case_id, AuditRecord.outcome).where(
                AuditRecord.action == "case.migrate"
            )
        ).all()
    assert sorted(o for _, o in audited) == ["done", "done", "not_moved"]
    assert (pinned_id, "not_moved") in audited


def test_migration_needs_the_publishing_role(deps, users):
    from service.errors import Forbidden

    desk = actor(deps, users, "frontdesk")
    try:
        migration.dry_run(deps, desk, "collection")
    except Forbidden as refused:
        assert "needs the role" in refused.message
    else:
        raise AssertionError("a front-desk user ran a migration dry run")
