import re
from pathlib import Path

import pytest

from service.engine import CompiledDiagram, DiagramError, Problem
from tests.unit.engine.engine_helpers import FORMS, REPO_ROOT, ROLES, diagram_bytes

MIWG = REPO_ROOT / ".." / "shared" / "testdata" / "bpmn-miwg-reference"
SPIFF = 'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'


def collection_with(old: str, new: str) -> bytes:
    text = diagram_bytes("collection.bpmn").decode()
    assert old in text
    return text.replace(old, new, 1).encode()


def problems_of(engine, xml: bytes) -> list[Problem]:
    return engine.validate(xml, roles=ROLES, forms=FORMS)


def reasons_for(engine, xml: bytes, element_id: str) -> str:
    return " | ".join(p.reason for p in problems_of(engine, xml) if p.element_id == element_id)


def test_the_collection_diagram_has_no_problems(engine):
    assert problems_of(engine, diagram_bytes("collection.bpmn")) == []


def test_a_script_task_is_rejected_with_its_line(engine):
    xml = collection_with(
        '<bpmn:serviceTask id="store" name="Store in vault">',
        '<bpmn:scriptTask id="store" name="Store in vault"><bpmn:script>x = 1</bpmn:script>'
        '</bpmn:scriptTask><bpmn:serviceTask id="unused">',
    )
    [problem] = [p for p in problems_of(engine, xml) if p.element_id == "store"]
    assert "script tasks are not allowed" in problem.reason
    assert problem.element_name == "Store in vault" and problem.line


def test_a_pre_script_is_rejected(engine):
    xml = collection_with(
        "<spiffworkflow:properties>",
        "<spiffworkflow:preScript>import os</spiffworkflow:preScript><spiffworkflow:properties>",
    )
    assert "pre/post scripts are not allowed" in reasons_for(engine, xml, "collect")


def test_an_unregistered_connector_is_reported(engine):
    xml = collection_with('id="vault_store"', 'id="shell_exec"')
    assert "'shell_exec' is not registered" in reasons_for(engine, xml, "store")


def test_a_service_task_without_a_connector_is_reported(engine):
    text = diagram_bytes("collection.bpmn").decode()
    operator = re.compile(
        r"<spiffworkflow:serviceTaskOperator.*</spiffworkflow:serviceTaskOperator>", re.S
    )
    xml = operator.sub("", text).encode()
    assert "must name a connector" in reasons_for(engine, xml, "store")


def test_an_unsafe_service_parameter_is_reported(engine):
    xml = collection_with('value="len(reason)"', 'value="reason.__class__"')
    assert "parameter 'reason_length'" in reasons_for(engine, xml, "store")


def test_a_user_task_outside_a_role_lane_is_reported(engine):
    problems = engine.validate(diagram_bytes("collection.bpmn"), roles={"front_desk"}, forms=FORMS)
    assert any(p.element_id == "review" and "lane" in p.reason for p in problems)


def test_a_user_task_with_an_unknown_form_is_reported(engine):
    xml = collection_with('value="review_form"', 'value="nope_form"')
    assert "known form" in reasons_for(engine, xml, "review")


def test_a_malformed_due_duration_is_reported(engine):
    xml = collection_with('value="P15D"', 'value="15 days"')
    assert "ISO 8601" in reasons_for(engine, xml, "collect")


def test_a_gateway_without_default_or_full_conditions_is_reported(engine):
    xml = collection_with(' default="f_reject"', "")
    assert "default flow" in reasons_for(engine, xml, "decide")


def test_an_unreachable_element_is_reported(engine):
    xml = collection_with(
        '<bpmn:endEvent id="entered"',
        '<bpmn:task id="orphan" name="Orphan" /><bpmn:endEvent id="entered"',
    )
    assert "cannot be reached" in reasons_for(engine, xml, "orphan")


def test_a_dead_end_is_reported(engine):
    xml = collection_with('<bpmn:sequenceFlow id="f4" sourceRef="store" targetRef="entered" />', "")
    assert "no path from here reaches an end event" in reasons_for(engine, xml, "store")


def test_an_unquoted_timer_is_reported(engine):
    xml = diagram_bytes("timer.bpmn").replace(b'"PT1H"', b"PT1H")
    assert "does not parse" in reasons_for(engine, xml, "deadline")


def test_a_call_activity_to_a_missing_process_is_reported(engine):
    xml = collection_with(
        '<bpmn:serviceTask id="store" name="Store in vault">',
        '<bpmn:callActivity id="store" calledElement="elsewhere">'
        '</bpmn:callActivity><bpmn:serviceTask id="x">',
    )
    assert "not in the diagram" in reasons_for(engine, xml, "store")


def test_two_executable_processes_are_reported(engine):
    xml = collection_with(
        "</bpmn:definitions>", '<bpmn:process id="other" isExecutable="true" /></bpmn:definitions>'
    )
    assert "exactly one executable process" in problems_of(engine, xml)[0].reason


def test_spiffworkflow_schema_errors_become_problems(engine):
    xml = collection_with('<bpmn:startEvent id="start">', '<bpmn:startEvent id="start" bogus="1">')
    assert "invalid BPMN" in problems_of(engine, xml)[0].reason


def test_compile_raises_diagram_error_carrying_the_problems(engine):
    with pytest.raises(DiagramError) as caught:
        engine.compile(
            collection_with('value="review_form"', 'value="x"'), roles=ROLES, forms=FORMS
        )
    assert caught.value.problems[0].as_dict()["element_id"] == "review"


def test_compile_describes_the_user_tasks(compile_diagram):
    diagram = compile_diagram("collection.bpmn")
    assert diagram.process_id == "collection" and diagram.name == "Collection"
    collect = diagram.user_tasks["collect"]
    assert (collect.label, collect.lane, collect.form, collect.due_in) == (
        "Collect personal data",
        "front_desk",
        "collection_form",
        "P15D",
    )


def test_a_second_compile_of_the_same_bytes_is_served_from_the_cache(engine, compile_diagram):
    first = compile_diagram("collection.bpmn")
    assert compile_diagram("collection.bpmn") is first
    assert len(first.content_hash) == 64


@pytest.mark.parametrize("path", sorted(MIWG.glob("*.bpmn")), ids=lambda p: p.name)
def test_foreign_reference_diagrams_compile_or_give_problems(engine, path: Path):
    problems = engine.validate(path.read_bytes(), roles={"nobody"}, forms={"nothing"})
    if problems:
        assert all(isinstance(p, Problem) and p.reason for p in problems)
        with pytest.raises(DiagramError):
            engine.compile(path.read_bytes(), roles={"nobody"}, forms={"nothing"})
    else:
        assert isinstance(
            engine.compile(path.read_bytes(), roles={"nobody"}, forms={"nothing"}), CompiledDiagram
        )


def test_there_are_twenty_one_reference_diagrams():
    assert len(list(MIWG.glob("*.bpmn"))) == 21


def test_compiling_the_same_bytes_for_other_roles_checks_again_but_shares_specs(engine):
    xml = diagram_bytes("collection.bpmn")
    first = engine.compile(xml, roles=ROLES, forms=FORMS)
    assert engine.compile(xml, roles=ROLES | {"auditor"}, forms=FORMS) is first
    with pytest.raises(DiagramError):
        engine.compile(xml, roles={"front_desk"}, forms=FORMS)
