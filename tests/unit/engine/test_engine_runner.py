import json
from datetime import UTC, datetime, timedelta

import pytest

from service.engine import (
    SERIALIZER_VERSION,
    ConnectorError,
    ConnectorRegistry,
    Engine,
    TaskNotReady,
)
from service.engine.specs import build_diagram
from tests.unit.engine.engine_helpers import FORMS, ROLES, diagram_bytes


def complete_only_task(run, data, ctx=None):
    [task] = run.ready_tasks()
    run.complete(task.id, data, ctx)
    return task


def test_an_approved_collection_stores_and_ends_entered(engine, compile_diagram, connector_calls):
    run = engine.start(compile_diagram("collection.bpmn"), {"subject": "psn-1"}, ctx="clerk")
    collect = complete_only_task(run, {"reason": "new customer"}, "clerk")
    assert (collect.spec_name, collect.lane, collect.form) == (
        "collect",
        "front_desk",
        "collection_form",
    )
    assert collect.data == {"subject": "psn-1"}
    complete_only_task(run, {"decision": "approve"}, "reviewer-ctx")
    assert run.completed and run.end_event == "entered"
    assert connector_calls == [("reviewer-ctx", {"subject": "psn-1", "reason_length": 12})]
    assert run.data["stored"] == {"record": "vault-ref-1"}
    assert run.completed_steps() == ["start", "collect", "review", "decide", "store", "entered"]


def test_a_rejected_collection_ends_rejected_without_storing(
    engine, compile_diagram, connector_calls
):
    run = engine.start(compile_diagram("collection.bpmn"), {"subject": "psn-1"}, ctx=None)
    complete_only_task(run, {"reason": "x"})
    complete_only_task(run, {"decision": "reject"})
    assert run.end_event == "rejected" and connector_calls == []
    assert "store" not in run.completed_steps()


def test_a_waiting_case_has_no_end_event(engine, compile_diagram):
    run = engine.start(compile_diagram("collection.bpmn"), {}, ctx=None)
    assert not run.completed and run.end_event is None
    assert run.completed_steps() == ["start"]


def test_a_failing_connector_surfaces_as_connector_error_naming_it(compile_diagram):
    registry = ConnectorRegistry()
    registry.register("vault_store", lambda ctx, params: 1 / 0)
    engine = Engine(connectors=registry)
    run = engine.start(compile_diagram("collection.bpmn"), {"subject": "s"}, ctx=None)
    complete_only_task(run, {"reason": "x"})
    with pytest.raises(ConnectorError, match="vault_store.*ZeroDivisionError"):
        complete_only_task(run, {"decision": "approve"})


def test_an_unknown_connector_at_run_time_is_a_connector_error():
    engine = Engine(connectors=ConnectorRegistry())
    diagram = build_diagram(diagram_bytes("collection.bpmn"))
    run = engine.start(diagram, {"subject": "s"}, ctx=None)
    complete_only_task(run, {"reason": "x"})
    with pytest.raises(ConnectorError, match="vault_store"):
        complete_only_task(run, {"decision": "approve"})


def test_the_registry_knows_which_connectors_touch_personal_data(registry):
    registry.register("notify", lambda ctx, params: {})
    assert registry.names() == {"vault_store", "notify"}
    assert registry.touches_personal_data("vault_store")
    assert not registry.touches_personal_data("notify")


@pytest.mark.parametrize("task_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_completing_an_unknown_task_raises_task_not_ready(engine, compile_diagram, task_id):
    run = engine.start(compile_diagram("collection.bpmn"), {}, ctx=None)
    with pytest.raises(TaskNotReady):
        run.complete(task_id, {}, ctx=None)


def test_completing_a_task_twice_raises_task_not_ready(engine, compile_diagram):
    run = engine.start(compile_diagram("collection.bpmn"), {}, ctx=None)
    task = complete_only_task(run, {"reason": "x"})
    with pytest.raises(TaskNotReady):
        run.complete(task.id, {}, ctx=None)


def test_serialized_state_leaves_out_the_spec_and_names_its_versions(engine, compile_diagram):
    diagram = compile_diagram("collection.bpmn")
    state = json.loads(engine.start(diagram, {}, ctx=None).serialize())
    assert "spec" not in state and "subprocess_specs" not in state
    assert state["serializer_version"] == SERIALIZER_VERSION
    assert state["diagram"] == diagram.content_hash


def test_a_restored_case_continues_where_it_stopped(engine, compile_diagram):
    diagram = compile_diagram("collection.bpmn")
    run = engine.start(diagram, {"subject": "psn-1"}, ctx=None)
    complete_only_task(run, {"reason": "x"})
    restored = engine.restore(diagram, run.serialize())
    assert [t.spec_name for t in restored.ready_tasks()] == ["review"]
    assert restored.ready_tasks()[0].id == run.ready_tasks()[0].id
    complete_only_task(restored, {"decision": "approve"})
    assert restored.end_event == "entered"


def test_restore_refuses_state_of_another_diagram(engine, compile_diagram):
    state = engine.start(compile_diagram("collection.bpmn"), {}, ctx=None).serialize()
    with pytest.raises(ValueError, match="does not belong"):
        engine.restore(compile_diagram("loop.bpmn"), state)


def test_restore_reuses_the_cached_spec_instead_of_rebuilding_it(engine, compile_diagram):
    # Speed is measured by `datasteward bench`; here, the reason restore is cheap.
    diagram = compile_diagram("collection.bpmn")
    run = engine.start(diagram, {"subject": "psn-1"}, ctx=None)
    complete_only_task(run, {"reason": "x"})
    state = run.serialize()
    assert "spec" not in json.loads(state)
    restored = engine.restore(diagram, state)
    assert restored._workflow.spec is run._workflow.spec


def test_a_correction_loop_taken_three_hundred_times_still_progresses(engine, compile_diagram):
    diagram = compile_diagram("loop.bpmn")
    run = engine.start(diagram, {}, ctx=None)
    for _ in range(300):
        complete_only_task(run, {"return_for_correction": True})
    run = engine.restore(diagram, run.serialize())
    complete_only_task(run, {"return_for_correction": False})
    assert run.completed and run.end_event == "done"


def test_a_boundary_timer_fires_only_once_due(engine, compile_diagram):
    run = engine.start(compile_diagram("timer.bpmn"), {}, ctx=None)
    due = run.next_timer_due()
    assert due is not None
    assert timedelta(minutes=59) < due - datetime.now(UTC) <= timedelta(hours=1)
    run.fire_timers(ctx=None, now=due - timedelta(minutes=1))
    assert [t.spec_name for t in run.ready_tasks()] == ["review"]
    run.fire_timers(ctx=None, now=due + timedelta(seconds=1))
    assert run.completed and run.end_event == "timed_out"
    assert run.ready_tasks() == [] and run.next_timer_due() is None


def test_a_timer_still_fires_after_restore(engine, compile_diagram):
    diagram = compile_diagram("timer.bpmn")
    run = engine.restore(diagram, engine.start(diagram, {}, ctx=None).serialize())
    run.fire_timers(ctx=None, now=datetime.now(UTC) + timedelta(hours=2))
    assert run.end_event == "timed_out"


def test_completing_the_task_before_the_deadline_cancels_the_timer(engine, compile_diagram):
    run = engine.start(compile_diagram("timer.bpmn"), {}, ctx=None)
    complete_only_task(run, {})
    assert run.end_event == "done" and run.next_timer_due() is None


def test_roles_and_forms_used_by_the_fixtures_match_the_diagrams():
    assert {"front_desk", "reviewer"} <= ROLES and "review_form" in FORMS


def test_a_kept_run_resumes_only_on_the_state_it_wrote_and_only_once(engine, compile_diagram):
    diagram = compile_diagram("collection.bpmn")
    run = engine.start(diagram, {"subject": "psn-1"}, ctx=None)
    state = run.serialize()
    engine.live.keep("case-1", diagram, state, run)
    assert engine.resume(diagram, "case-1", state) is run
    again = engine.resume(diagram, "case-1", state)  # taken: the second is restored
    assert again is not run and again.serialize() == state
    engine.live.keep("case-1", diagram, state, run)
    respelt = json.dumps(json.loads(state), indent=1)  # the same values, other text
    restored = engine.resume(diagram, "case-1", respelt)
    assert restored is not run and restored.serialize() == state
    assert engine.live.take("case-1", diagram, state) is None  # a miss drops it too


def test_a_kept_run_is_not_handed_out_for_another_diagram(engine, compile_diagram):
    diagram = compile_diagram("collection.bpmn")
    run = engine.start(diagram, {}, ctx=None)
    engine.live.keep("case-1", diagram, run.serialize(), run)
    other = compile_diagram("loop.bpmn")
    assert engine.live.take("case-1", other, run.serialize()) is None


def test_the_kept_runs_are_bounded_oldest_out():
    from service.engine.runner import LiveRuns

    live = LiveRuns(size=2)
    diagram, run = object(), object()
    for case_id in ("a", "b", "c"):
        live.keep(case_id, diagram, "s", run)  # type: ignore[arg-type]
    assert live.take("a", diagram, "s") is None  # type: ignore[arg-type]
    assert live.take("b", diagram, "s") is run  # type: ignore[arg-type]
    assert live.take("c", diagram, "s") is run  # type: ignore[arg-type]


def test_a_look_at_a_run_lends_it_and_keeps_one_it_had_to_restore(engine, compile_diagram):
    diagram = compile_diagram("collection.bpmn")
    run = engine.start(diagram, {"subject": "psn-1"}, ctx=None)
    state = run.serialize()
    looked = engine.inspect(diagram, "case-1", state, lambda r: r)  # restored, then kept
    assert looked is not run and looked.serialize() == state
    assert engine.inspect(diagram, "case-1", state, lambda r: r) is looked  # lent and back
    assert engine.resume(diagram, "case-1", state) is looked


def test_a_look_at_a_finished_run_keeps_nothing(engine, compile_diagram):
    diagram = compile_diagram("collection.bpmn")
    run = engine.start(diagram, {"subject": "psn-1"}, ctx=None)
    complete_only_task(run, {"reason": "x"})
    complete_only_task(run, {"decision": "approve"})
    state = run.serialize()
    assert engine.inspect(diagram, "case-1", state, lambda r: r.completed)
    assert engine.live.take("case-1", diagram, state) is None
