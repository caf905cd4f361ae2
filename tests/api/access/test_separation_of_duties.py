"""Separation of duties through direct API calls, on the shipped diagram and on
diagrams edited to move or add review steps: the rule holds whatever the drawing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from service.audit.models import AuditRecord
from service.definitions.service import install_shipped
from tests.api.conftest import CONSENT, VALID_FORM
from tests.conftest import ROOT, add_user

SHIPPED = ROOT / "processes" / "collection"
APPROVE = {"decision": "approve"}


def _install(deps, tmp_path: Path, name: str, edit) -> str:
    folder = tmp_path / "procedures" / name
    shutil.copytree(SHIPPED / "forms", folder / "forms")
    bpmn = (SHIPPED / "collection.bpmn").read_text(encoding="utf-8")
    (folder / f"{name}.bpmn").write_text(edit(bpmn), encoding="utf-8")
    with deps.unit_of_work() as uow:
        assert install_shipped(uow.session, deps.engine, folder.parent, deps.now()) == [name]
        uow.commit()
    return name


def _review_in_front_desk_lane(bpmn: str) -> str:
    """The review drawn in the requester's lane and renamed so its name says nothing."""
    ref = "        <bpmn:flowNodeRef>review</bpmn:flowNodeRef>\n"
    assert ref in bpmn
    bpmn = bpmn.replace(ref, "")
    bpmn = bpmn.replace(
        "<bpmn:flowNodeRef>fill_form</bpmn:flowNodeRef>\n",
        "<bpmn:flowNodeRef>fill_form</bpmn:flowNodeRef>\n" + ref,
    )
    return bpmn.replace('name="审核 Review"', 'name="第三步 Step three"')


def _second_approval(bpmn: str) -> str:
    """A data officer's second approval between the review and the entry."""
    lane = (
        '      <bpmn:lane id="lane_officer" name="data_officer">\n'
        "        <bpmn:flowNodeRef>second_approval</bpmn:flowNodeRef>\n"
        "      </bpmn:lane>\n    </bpmn:laneSet>"
    )
    task = (
        '    <bpmn:userTask id="second_approval" name="复核 Second approval">\n'
        "      <bpmn:extensionElements><spiffworkflow:properties>\n"
        '        <spiffworkflow:property name="form" value="collection_review" />\n'
        "      </spiffworkflow:properties></bpmn:extensionElements>\n"
        "      <bpmn:incoming>flow_approve</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_second_to_enter</bpmn:outgoing>\n"
        "    </bpmn:userTask>\n"
        '    <bpmn:sequenceFlow id="flow_second_to_enter" sourceRef="second_approval" '
        'targetRef="enter_record" />\n  </bpmn:process>'
    )
    bpmn = bpmn.replace("    </bpmn:laneSet>", lane, 1).replace("  </bpmn:process>", task, 1)
    bpmn = bpmn.replace(
        'sourceRef="review_decision" targetRef="enter_record"',
        'sourceRef="review_decision" targetRef="second_approval"',
    )
    return bpmn.replace(
        "<bpmn:incoming>flow_approve</bpmn:incoming>\n      <bpmn:outgoing>flow_enter_to_entered",
        "<bpmn:incoming>flow_second_to_enter</bpmn:incoming>\n"
        "      <bpmn:outgoing>flow_enter_to_entered",
    )


def _collect(desk, procedure: str) -> str:
    case = desk.start(procedure)
    assert desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT).status == 200
    assert desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM).status == 200
    return case["id"]


def _refusals(deps, action: str) -> list[str]:
    with deps.unit_of_work() as uow:
        return list(
            uow.session.scalars(
                select(AuditRecord.reason).where(
                    AuditRecord.action == action, AuditRecord.outcome == "refused"
                )
            )
        )


def _add_user(deps, username: str, roles: list[str]) -> None:
    add_user(deps, username, roles, trained_days=30)


def test_the_collector_cannot_claim_or_complete_the_review_through_the_api(api, deps):
    both = api("allrounder")
    case_id = _collect(both, "collection")
    review = both.task_of(case_id, "review")
    claim = both.post(f"/api/v1/tasks/{review}/claim")
    complete = both.complete(review, APPROVE)
    assert claim.status == 403 and "you started this case" in claim.body["error"]["message"]
    assert complete.status == 403
    assert any("you started this case" in r for r in _refusals(deps, "task.complete"))


def test_a_review_moved_into_the_requesters_lane_is_still_refused_to_the_requester(
    api, deps, tmp_path
):
    name = _install(deps, tmp_path, "desk_review", _review_in_front_desk_lane)
    desk = api("frontdesk")
    case_id = _collect(desk, name)
    review = desk.task_of(case_id, "review")
    refused = desk.complete(review, APPROVE)
    assert refused.status == 403
    assert "separation of duties" in refused.body["error"]["message"]
    assert api("frontdesk2").complete(review, APPROVE).status == 200


def test_the_reviewer_cannot_give_the_second_approval(api, deps, tmp_path):
    name = _install(deps, tmp_path, "two_approvals", _second_approval)
    _add_user(deps, "dual", ["reviewer", "data_officer"])
    _add_user(deps, "officer2", ["data_officer"])
    case_id = _collect(api("frontdesk"), name)
    dual = api("dual")
    assert dual.complete(dual.task_of(case_id, "review"), APPROVE).status == 200
    second = dual.task_of(case_id, "second_approval")
    refused = dual.complete(second, APPROVE)
    assert refused.status == 403
    assert "you did the step 'review'" in refused.body["error"]["message"]
    assert api("officer2").complete(second, APPROVE).status == 200


def test_the_collector_cannot_give_the_second_approval_either(api, deps, tmp_path):
    name = _install(deps, tmp_path, "two_approvals", _second_approval)
    _add_user(deps, "desk_officer", ["front_desk", "data_officer"])
    desk = api("desk_officer")
    case_id = _collect(desk, name)
    reviewer = api("reviewer")
    assert reviewer.complete(reviewer.task_of(case_id, "review"), APPROVE).status == 200
    refused = desk.complete(desk.task_of(case_id, "second_approval"), APPROVE)
    assert refused.status == 403 and "you started this case" in refused.body["error"]["message"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_reviewer_may_review_again_after_returning_the_form(api, deps, collected):
    reviewer, desk = api("reviewer"), api("frontdesk")
    case_id = collected["id"]
    returned = reviewer.complete(
        reviewer.task_of(case_id, "review"), {"decision": "return", "reason": "typo"}
    )
    assert returned.status == 200
    assert desk.complete(desk.task_of(case_id, "fill_form"), VALID_FORM).status == 200
    assert reviewer.complete(reviewer.task_of(case_id, "review"), APPROVE).status == 200
