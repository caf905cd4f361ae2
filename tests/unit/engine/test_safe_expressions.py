import time

import pytest

from service.engine import ExpressionError
from service.engine.expressions import evaluate
from tests.unit.engine.engine_helpers import FORMS, ROLES, condition_diagram

HOSTILE = [
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "(1).__class__",
    "getattr(x, '__globals__')",
    "[c for c in ().__class__.__mro__]",
    "9**9**9",
    "'a'*10**10",
    "lambda: 1",
    "open('/etc/passwd')",
    "exec('1')",
    "eval('1')",
    "x.__class__",
    "[a for a in items for b in items]",
    "'x' * 10 ** 3 * 10 ** 3",
    "2 ** 200 * 2 ** 200 * 2 ** 4000",
    "x" * 1001,
]

POSITIVE = [
    ('decision == "approve"', {"decision": "approve"}, True),
    ("len(reason) > 0", {"reason": "moved"}, True),
    ("amount >= 3 and flag", {"amount": 3, "flag": True}, True),
    ('"x" in items', {"items": ["x", "y"]}, True),
    ("max(scores) if scores else 0", {"scores": [1, 5]}, 5),
    ("status.lower() == 'ok'", {"status": "OK"}, True),
    ('"PT1H"', {}, "PT1H"),
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_hostile_expression_is_refused_quickly(expression):
    started = time.perf_counter()
    with pytest.raises(ExpressionError):
        evaluate(expression, {"x": 1, "items": list(range(100))})
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(("expression", "names", "expected"), POSITIVE)
def test_plain_conditions_evaluate(expression, names, expected):
    assert evaluate(expression, names) == expected


def test_missing_variable_is_an_expression_error_naming_the_expression():
    with pytest.raises(ExpressionError, match="decision"):
        evaluate('decision == "approve"', {})


@pytest.mark.parametrize("expression", HOSTILE[:11])
def test_hostile_condition_runs_nothing_in_a_started_case(
    expression, engine, unchecked_condition_diagram, tmp_path
):
    marker = tmp_path / "pwned"
    diagram = unchecked_condition_diagram(expression.replace("'id'", f"'touch {marker}'"))
    run = engine.start(diagram, {"x": 1}, ctx=None)
    with pytest.raises(ExpressionError):
        run.complete(run.ready_tasks()[0].id, {}, ctx=None)
    assert not marker.exists()


@pytest.mark.parametrize("expression", HOSTILE[:11])
def test_hostile_condition_runs_nothing_after_restore(
    expression, engine, unchecked_condition_diagram, tmp_path
):
    marker = tmp_path / "pwned"
    diagram = unchecked_condition_diagram(expression.replace("'id'", f"'touch {marker}'"))
    state = engine.start(diagram, {"x": 1}, ctx=None).serialize()
    restored = engine.restore(diagram, state)
    with pytest.raises(ExpressionError):
        restored.complete(restored.ready_tasks()[0].id, {}, ctx=None)
    assert not marker.exists()


@pytest.mark.parametrize("expression", HOSTILE[:11])
def test_hostile_condition_is_refused_at_validation(expression, engine):
    problems = engine.validate(condition_diagram(expression), roles=ROLES, forms=FORMS)
    assert [p.element_id for p in problems] == ["f_yes"]
    assert "unsafe or invalid condition" in problems[0].reason


@pytest.mark.parametrize(
    ("condition", "data", "end"),
    [
        ('decision == "approve"', {"decision": "approve"}, "yes"),
        ('decision == "approve"', {"decision": "reject"}, "no"),
        ("len(reason) > 0", {"reason": "moved house"}, "yes"),
        ("amount >= 3 and flag", {"amount": 3, "flag": False}, "no"),
        ('"x" in items', {"items": ["x"]}, "yes"),
    ],
)
def test_safe_condition_routes_the_case(condition, data, end, engine):
    diagram = engine.compile(condition_diagram(condition), roles=ROLES, forms=FORMS)
    run = engine.restore(diagram, engine.start(diagram, {}, ctx=None).serialize())
    run.complete(run.ready_tasks()[0].id, data, ctx=None)
    assert run.completed and run.end_event == end


def test_a_failing_condition_leaves_the_case_waiting_in_an_error_state(engine):
    diagram = engine.compile(condition_diagram('decision == "approve"'), roles=ROLES, forms=FORMS)
    run = engine.start(diagram, {}, ctx=None)
    with pytest.raises(ExpressionError, match="decision"):
        run.complete(run.ready_tasks()[0].id, {}, ctx=None)
    assert not run.completed
