"""Guard rails: personal-data connectors only after an approval in a reviewer lane."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.connectors import build_registry
from service.definitions.checks import content_report, has_errors
from service.definitions.service import read_procedure_folder
from service.engine import Engine

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(connectors=build_registry())


@pytest.fixture(scope="module")
def collection():
    return read_procedure_folder(ROOT / "processes" / "collection")


def _guard_problems(engine, bpmn, forms) -> list[dict]:
    return [p for p in content_report(engine, bpmn, forms) if "guard rail" in p["reason"]]


SHIPPED = sorted(p.name for p in (ROOT / "processes").iterdir() if (p / f"{p.name}.bpmn").is_file())


@pytest.mark.parametrize("procedure", SHIPPED)
def test_the_shipped_procedures_keep_their_guard_rails(engine, procedure):
    files = read_procedure_folder(ROOT / "processes" / procedure)
    assert content_report(engine, files.bpmn, files.forms) == []


def test_a_deletion_edited_to_shred_without_review_is_invalid_naming_the_path(engine):
    deletion = read_procedure_folder(ROOT / "processes" / "deletion")
    bypass = deletion.bpmn.replace(
        'sourceRef="file_deletion_request" targetRef="review_deletion"',
        'sourceRef="file_deletion_request" targetRef="request_shredding"',
    )
    problems = _guard_problems(engine, bypass, deletion.forms)
    [problem] = [p for p in problems if p["element_id"] == "request_shredding"]
    assert problem["path"] == ["start", "file_deletion_request", "request_shredding"]
    assert "'vault.request_shredding'" in problem["reason"]


def test_a_diagram_that_skips_the_review_is_invalid_and_names_the_path(engine, collection):
    bypass = collection.bpmn.replace(
        'sourceRef="fill_form" targetRef="review"',
        'sourceRef="fill_form" targetRef="review_decision"',
    )
    [problem] = _guard_problems(engine, bypass, collection.forms)
    assert problem["element_id"] == "enter_record" and problem["severity"] == "error"
    assert problem["path"] == [
        "start",
        "record_consent",
        "consent_given_gateway",
        "fill_form",
        "review_decision",
        "enter_record",
    ]
    assert "fill_form → review_decision → enter_record" in problem["reason"]


def test_a_shortcut_flow_around_the_review_is_caught_even_though_the_review_remains(
    engine, collection
):
    shortcut = collection.bpmn.replace(
        "</bpmn:process>",
        '<bpmn:sequenceFlow id="shortcut" sourceRef="consent_given_gateway" '
        'targetRef="enter_record"><bpmn:conditionExpression>vip == True'
        "</bpmn:conditionExpression></bpmn:sequenceFlow></bpmn:process>",
    )
    [problem] = _guard_problems(engine, shortcut, collection.forms)
    assert problem["path"][-2:] == ["consent_given_gateway", "enter_record"]


def test_moving_the_review_into_the_front_desk_lane_removes_the_approval(engine, collection):
    moved = collection.bpmn.replace("<bpmn:flowNodeRef>review</bpmn:flowNodeRef>", "").replace(
        "<bpmn:flowNodeRef>fill_form</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>fill_form</bpmn:flowNodeRef><bpmn:flowNodeRef>review</bpmn:flowNodeRef>",
    )
    report = content_report(engine, moved, collection.forms)
    assert has_errors(report)
    assert [p["element_id"] for p in report if "guard rail" in p["reason"]] == ["enter_record"]


def test_a_timer_on_the_review_task_that_leads_to_the_connector_bypasses_the_approval(
    engine, collection
):
    escape = collection.bpmn.replace(
        "</bpmn:process>",
        '<bpmn:boundaryEvent id="review_timeout" attachedToRef="review">'
        '<bpmn:timerEventDefinition><bpmn:timeDuration>"P2D"</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        '<bpmn:sequenceFlow id="timeout_flow" sourceRef="review_timeout" '
        'targetRef="enter_record" />'
        "</bpmn:process>",
    )
    [problem] = _guard_problems(engine, escape, collection.forms)
    assert problem["path"][-3:] == ["review", "review_timeout", "enter_record"]
