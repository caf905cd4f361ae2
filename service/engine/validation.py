"""The project's diagram rules, reported as Problems (never raised).

Checked on the safely parsed XML so every Problem carries a source line; the
SpiffWorkflow build runs afterwards and its own complaints become Problems too.
"""

from __future__ import annotations

import re
from collections import defaultdict

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .connectors import ConnectorRegistry
from .expressions import ExpressionError, check_expression, evaluate
from .specs import CompiledDiagram, bpmn_tag, build_diagram, choose_process
from .xml import DiagramError, Problem, parse_diagram_xml, problem_at

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FLOW_NODES = frozenset(
    bpmn_tag(local)
    for local in [
        "task",
        "userTask",
        "manualTask",
        "serviceTask",
        "scriptTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "complexGateway",
    ]
)
HUMAN_TASKS = (bpmn_tag("userTask"), bpmn_tag("manualTask"))
SCOPES = (bpmn_tag("subProcess"), bpmn_tag("transaction"), bpmn_tag("adHocSubProcess"))
# ISO 8601 durations as used for deadlines: P15D, PT1H, P1Y2M, P2W.
ISO_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)


def validate_diagram(
    xml: bytes, *, roles: set[str], forms: set[str], connectors: ConnectorRegistry
) -> list[Problem]:
    """All problems of a diagram; an empty list means it compiles."""
    return check_and_build(xml, roles=roles, forms=forms, connectors=connectors)[0]


def check_and_build(
    xml: bytes, *, roles: set[str], forms: set[str], connectors: ConnectorRegistry
) -> tuple[list[Problem], CompiledDiagram | None]:
    """Problems of a diagram and, when there are none, its compiled form."""
    problems: list[Problem] = []
    try:
        process = choose_process(parse_diagram_xml(xml))
        problems = lint(process, roles=roles, forms=forms, connectors=connectors)
        diagram = build_diagram(xml)
    except DiagramError as err:
        return [*problems, *err.problems], None
    except Exception as err:  # noqa: BLE001 - validation must never crash on foreign input
        reason = f"the diagram could not be checked: {type(err).__name__}: {err}"
        return [*problems, Problem(None, None, None, reason)], None
    return problems, (None if problems else diagram)


def lint(
    process: etree._Element, *, roles: set[str], forms: set[str], connectors: ConnectorRegistry
) -> list[Problem]:
    problems: list[Problem] = []
    lanes = _lanes(process)
    process_ids = {p.get("id") for p in process.getparent().findall(bpmn_tag("process"))}
    for element in process.iter(tag=etree.Element):
        problems += _element_problems(element, lanes, roles, forms, connectors, process_ids)
    for scope in [process, *process.iter(*SCOPES)]:
        problems += _graph_problems(scope)
    return problems


def _element_problems(element, lanes, roles, forms, connectors, process_ids) -> list[Problem]:
    tag = element.tag
    if tag == bpmn_tag("scriptTask"):
        return [problem_at(element, "script tasks are not allowed: diagrams may not run code")]
    if tag in (f"{{{SPIFF_NS}}}preScript", f"{{{SPIFF_NS}}}postScript"):
        owner = element.getparent().getparent()
        return [problem_at(owner, "pre/post scripts are not allowed: diagrams may not run code")]
    if tag == bpmn_tag("businessRuleTask"):
        return [problem_at(element, "business rule tasks are not supported")]
    if tag == bpmn_tag("callActivity") and element.get("calledElement") not in process_ids:
        return [
            problem_at(
                element, f"calls {element.get('calledElement')!r}, which is not in the diagram"
            )
        ]
    if tag == bpmn_tag("serviceTask"):
        return _service_task_problems(element, connectors)
    if tag in HUMAN_TASKS:
        return _human_task_problems(element, lanes, roles, forms)
    if tag == bpmn_tag("exclusiveGateway"):
        return _gateway_problems(element)
    if tag == bpmn_tag("conditionExpression"):
        return _expression_problems(element.getparent(), element.text or "", "condition")
    if tag == bpmn_tag("timerEventDefinition"):
        return _timer_problems(element)
    return []


def _expression_problems(owner, expression: str, what: str) -> list[Problem]:
    try:
        check_expression(expression)
    except ExpressionError as err:
        return [problem_at(owner, f"unsafe or invalid {what}: {err}")]
    return []


def _service_task_problems(task, connectors: ConnectorRegistry) -> list[Problem]:
    operator = task.find(f"{bpmn_tag('extensionElements')}/{{{SPIFF_NS}}}serviceTaskOperator")
    if operator is None:
        return [
            problem_at(
                task, "a service task must name a connector (spiffworkflow:serviceTaskOperator)"
            )
        ]
    name = operator.get("id")
    problems = []
    if name not in connectors.names():
        problems.append(problem_at(task, f"connector {name!r} is not registered"))
    for param in operator.iter(f"{{{SPIFF_NS}}}parameter"):
        what = f"parameter {param.get('id')!r}"
        problems += _expression_problems(task, param.get("value", ""), what)
    return problems


def _human_task_problems(
    task, lanes: dict[str, str], roles: set[str], forms: set[str]
) -> list[Problem]:
    problems = []
    lane = lanes.get(task.get("id", ""))
    if lane not in roles:
        problems.append(
            problem_at(task, f"a user task must sit in a lane named for a role; lane is {lane!r}")
        )
    props = {
        p.get("name"): p.get("value")
        for p in task.iterfind(
            f"{bpmn_tag('extensionElements')}/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"
        )
    }
    if props.get("form") not in forms:
        problems.append(
            problem_at(task, f"a user task must name a known form; form is {props.get('form')!r}")
        )
    due = props.get("due")
    if due is not None and not ISO_DURATION.match(due):
        problems.append(problem_at(task, f"due {due!r} is not an ISO 8601 duration such as P15D"))
    return problems


def _gateway_problems(gateway) -> list[Problem]:
    scope = gateway.getparent()
    outgoing = [
        f
        for f in scope.iterfind(bpmn_tag("sequenceFlow"))
        if f.get("sourceRef") == gateway.get("id")
    ]
    if len(outgoing) < 2 or gateway.get("default"):
        return []
    if all(f.find(bpmn_tag("conditionExpression")) is not None for f in outgoing):
        return []
    return [
        problem_at(
            gateway,
            "an exclusive gateway with several outgoing flows needs a default flow "
            "or a condition on every flow",
        )
    ]


# Case variables the service seeds when it starts a case, which a timer may
# name instead of a literal: a request's review deadline is computed on the
# working-day calendar at start, so it cannot be a constant of the diagram.
RUNTIME_TIMER_VARIABLES = frozenset({"review_due"})


def _timer_problems(definition) -> list[Problem]:
    owner = definition.getparent()
    problems = []
    for child in definition:
        kind = etree.QName(child).localname
        if kind == "timeDate" and (child.text or "").strip() in RUNTIME_TIMER_VARIABLES:
            continue
        try:
            value = evaluate(child.text or "", {})
            if not isinstance(value, str):
                raise ValueError('the timer must be a quoted text, e.g. "P15D"')
            if kind == "timeDuration":
                TimerEventDefinition.parse_iso_duration(value)
            elif kind == "timeDate":
                TimerEventDefinition.get_datetime(value)
            else:
                TimerEventDefinition.parse_iso_recurring_interval(value)
        except Exception as err:  # noqa: BLE001 - every failure is the same problem for the author
            hint = 'write a quoted ISO 8601 value such as "P15D"'
            problems.append(
                problem_at(owner, f"timer {kind} {child.text!r} does not parse ({hint}): {err}")
            )
    return problems


def _lanes(process) -> dict[str, str]:
    # Innermost lane wins: iter() visits parents before their child lanes.
    lanes: dict[str, str] = {}
    for lane in process.iter(bpmn_tag("lane")):
        for ref in lane.iterfind(bpmn_tag("flowNodeRef")):
            lanes[(ref.text or "").strip()] = lane.get("name") or ""
    return lanes


def _graph_problems(scope) -> list[Problem]:
    nodes = {n.get("id"): n for n in scope if n.tag in FLOW_NODES}
    forward, backward = defaultdict(set), defaultdict(set)
    for flow in scope.iterfind(bpmn_tag("sequenceFlow")):
        forward[flow.get("sourceRef")].add(flow.get("targetRef"))
        backward[flow.get("targetRef")].add(flow.get("sourceRef"))
    for node in nodes.values():
        if node.tag == bpmn_tag("boundaryEvent"):
            forward[node.get("attachedToRef")].add(node.get("id"))
            backward[node.get("id")].add(node.get("attachedToRef"))
    starts = [
        i for i, n in nodes.items() if n.tag == bpmn_tag("startEvent") or _is_event_subprocess(n)
    ]
    ends = [i for i, n in nodes.items() if n.tag == bpmn_tag("endEvent")]
    reached, finishing = _closure(starts, forward), _closure(ends, backward)
    problems = []
    for node_id, node in nodes.items():
        if node_id not in reached:
            problems.append(problem_at(node, "cannot be reached from the start event"))
        elif node_id not in finishing and not _is_event_subprocess(node):
            problems.append(problem_at(node, "no path from here reaches an end event"))
    return problems


def _is_event_subprocess(node) -> bool:
    return node.tag == bpmn_tag("subProcess") and node.get("triggeredByEvent") == "true"


def _closure(seeds: list[str], edges: dict[str, set[str]]) -> set[str]:
    seen, stack = set(seeds), list(seeds)
    while stack:
        for nxt in edges[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return seen
