"""The semantic diff, one hand-made pair of diagrams per kind of change."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.definitions.diffs import diff_forms
from service.engine.diff import diff_diagrams

ROOT = Path(__file__).resolve().parents[3]
BASE = (ROOT / "processes" / "collection" / "collection.bpmn").read_text(encoding="utf-8")

TIMER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="Wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"{duration}"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def _diff(before: str, after: str) -> dict:
    return diff_diagrams(before.encode(), after.encode())


def _only_change(before: str, after: str) -> tuple[str, list[dict]]:
    diff = _diff(before, after)
    assert diff["added"] == [] and diff["removed"] == []
    assert len(diff["changed"]) == 1, diff["changed"]
    return diff["changed"][0]["id"], diff["changed"][0]["changes"]


def test_an_added_and_a_removed_element_are_listed_with_their_type():
    extra = '<bpmn:endEvent id="archived" name="Archived" />\n  </bpmn:process>'
    diff = _diff(BASE, BASE.replace("</bpmn:process>", extra))
    assert diff["added"] == [{"id": "archived", "type": "endEvent", "name": "Archived"}]
    assert _diff(BASE.replace("</bpmn:process>", extra), BASE)["removed"] == diff["added"]


def test_a_renamed_task_shows_its_old_and_new_name():
    element, changes = _only_change(BASE, BASE.replace('name="审核 Review"', 'name="Check"'))
    assert element == "review"
    assert changes == [{"what": "name", "before": "审核 Review", "after": "Check"}]


def test_a_task_moved_to_another_lane_shows_the_lane_change():
    moved = BASE.replace("<bpmn:flowNodeRef>review</bpmn:flowNodeRef>", "").replace(
        "<bpmn:flowNodeRef>fill_form</bpmn:flowNodeRef>",
        "<bpmn:flowNodeRef>fill_form</bpmn:flowNodeRef><bpmn:flowNodeRef>review</bpmn:flowNodeRef>",
    )
    element, changes = _only_change(BASE, moved)
    assert (element, changes) == (
        "review",
        [{"what": "lane", "before": "reviewer", "after": "front_desk"}],
    )


def test_a_rewritten_condition_shows_both_expressions():
    after = BASE.replace('decision == "approve"', 'decision == "approve" and complete == True')
    element, changes = _only_change(BASE, after)
    assert element == "flow_approve"
    assert changes[0]["what"] == "condition"
    assert changes[0]["after"] == 'decision == "approve" and complete == True'


def test_a_task_given_another_form_shows_the_form_change():
    after = BASE.replace('value="collection_review"', 'value="collection_review_v2"')
    assert _only_change(BASE, after)[1] == [
        {"what": "form", "before": "collection_review", "after": "collection_review_v2"}
    ]


def test_a_service_task_with_another_connector_shows_the_connector_change():
    after = BASE.replace('id="vault.enter_subject"', 'id="vault.request_shredding"')
    element, changes = _only_change(BASE, after)
    assert element == "enter_record"
    assert changes == [
        {"what": "connector", "before": "vault.enter_subject", "after": "vault.request_shredding"}
    ]


def test_a_changed_timer_shows_its_old_and_new_duration():
    element, changes = _only_change(TIMER.format(duration="P15D"), TIMER.format(duration="P30D"))
    assert element == "wait"
    assert changes == [
        {"what": "timer", "before": {"timeDuration": '"P15D"'}, "after": {"timeDuration": '"P30D"'}}
    ]


def test_a_rerouted_flow_shows_its_new_target():
    after = BASE.replace(
        'sourceRef="review_decision" targetRef="rejected"',
        'sourceRef="review_decision" targetRef="no_consent"',
    )
    element, changes = _only_change(BASE, after)
    assert (element, changes) == (
        "flow_reject",
        [{"what": "flow_target", "before": "rejected", "after": "no_consent"}],
    )


def test_moving_shapes_in_the_layout_is_not_a_change():
    after = BASE.replace('<dc:Bounds x="730" y="440"', '<dc:Bounds x="750" y="460"')
    assert _diff(BASE, after) == {"added": [], "removed": [], "changed": []}


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (
            {"a": {"type": "object", "properties": {"x": {"type": "string"}, "y": {}}}},
            {"fields_added": ["y"], "fields_removed": [], "fields_changed": []},
        ),
        (
            {"a": {"type": "object", "properties": {}}},
            {"fields_added": [], "fields_removed": ["x"], "fields_changed": []},
        ),
        (
            {"a": {"type": "object", "properties": {"x": {"type": "string", "maxLength": 5}}}},
            {"fields_added": [], "fields_removed": [], "fields_changed": ["x"]},
        ),
        (
            {"a": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}},
            {"fields_added": [], "fields_removed": [], "fields_changed": ["x"]},
        ),
    ],
    ids=["field-added", "field-removed", "field-changed", "field-made-required"],
)
def test_changed_form_fields_are_named(after, expected):
    before = {"a": {"type": "object", "properties": {"x": {"type": "string"}}}}
    assert diff_forms(before, after) == {
        "added": [],
        "removed": [],
        "changed": [{"form": "a"} | expected],
    }


def test_added_and_removed_forms_are_named():
    assert diff_forms({"a": {}}, {"b": {}}) == {"added": ["b"], "removed": ["a"], "changed": []}
