"""Guard rails no version can remove (design rule 5, issue section 3).

Every connector that reveals, changes or destroys personal data must be
reachable only after an approval: a user task in a reviewer lane. The check
walks the diagram's flow graph from every way a case can begin (start events,
event sub-processes) and looks for a path to such a connector that completes no
reviewer task. A boundary event on a review task leaves it *without* the
approval, so it is followed from the moment the task is entered.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

from lxml import etree

from service.access.service import REVIEW_ROLES
from service.engine import (
    ConnectorError,
    ConnectorRegistry,
    DiagramError,
    Problem,
    choose_process,
    parse_diagram_xml,
)

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_SCOPES = {f"{{{BPMN}}}{t}" for t in ("subProcess", "transaction", "adHocSubProcess")}


def _tag(local: str) -> str:
    return f"{{{BPMN}}}{local}"


@dataclass
class FlowGraph:
    """The diagram's flow nodes and how control can move between them."""

    nodes: dict[str, etree._Element] = field(default_factory=dict)
    flows: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    boundary: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    roots: list[str] = field(default_factory=list)
    lanes: dict[str, str] = field(default_factory=dict)


def guard_rail_problems(xml: bytes, connectors: ConnectorRegistry) -> list[tuple[Problem, list]]:
    """One (problem, path) per personal-data connector reachable without an approval."""
    try:
        root = parse_diagram_xml(xml)
        main = choose_process(root)
    except DiagramError:
        return []  # the engine's own report already says why the diagram is unreadable
    graph = build_graph(root, main)
    reviews = {
        node_id
        for node_id, node in graph.nodes.items()
        if node.tag == _tag("userTask") and graph.lanes.get(node_id) in REVIEW_ROLES
    }
    found = []
    for node_id, name in _personal_data_connectors(graph, connectors):
        path = path_avoiding(graph, node_id, reviews)
        if path is not None:
            found.append((_problem(graph, node_id, name, path), path))
    return found


def _problem(graph: FlowGraph, node_id: str, connector: str, path: list[str]) -> Problem:
    node = graph.nodes[node_id]
    roles = ", ".join(sorted(REVIEW_ROLES))
    reason = (
        f"guard rail: connector {connector!r} handles personal data but can be reached "
        f"without an approval task in a reviewer lane ({roles}); path: {' → '.join(path)}"
    )
    return Problem(node_id, node.get("name"), node.sourceline, reason)


def _personal_data_connectors(graph: FlowGraph, connectors: ConnectorRegistry):
    operator = f"{_tag('extensionElements')}/{{{SPIFF}}}serviceTaskOperator"
    for node_id, node in graph.nodes.items():
        found = node.find(operator)
        if found is None:
            continue
        try:
            touches = connectors.touches_personal_data(found.get("id") or "")
        except ConnectorError:
            # An unknown connector is reported by the engine; it is treated as dangerous
            # here too, so a typo cannot be used to slip past the guard.
            touches = True
        if touches:
            yield node_id, found.get("id") or ""


def path_avoiding(graph: FlowGraph, target: str, blocked: set[str]) -> list[str] | None:
    """The shortest path from a root to `target` that completes no `blocked` node."""
    previous: dict[str, str | None] = {r: None for r in graph.roots}
    queue = deque(graph.roots)
    while queue:
        current = queue.popleft()
        if current == target:
            return _walk_back(previous, target)
        onward = set(graph.boundary[current])
        if current not in blocked:
            onward |= graph.flows[current]
        for nxt in sorted(onward - previous.keys()):
            previous[nxt] = current
            queue.append(nxt)
    return None


def _walk_back(previous: dict[str, str | None], target: str) -> list[str]:
    path: list[str] = []
    step: str | None = target
    while step is not None:
        path.append(step)
        step = previous[step]
    return path[::-1]


def build_graph(root: etree._Element, main: etree._Element) -> FlowGraph:
    graph = FlowGraph(lanes=_lanes(root))
    processes = {p.get("id"): p for p in root.iter(_tag("process"))}
    for process in processes.values():
        _add_scope(graph, process)
    for node_id, node in list(graph.nodes.items()):
        if node.tag == _tag("callActivity") and node.get("calledElement") in processes:
            _enter_scope(graph, node_id, processes[node.get("calledElement")])
        elif node.tag in _SCOPES and node.get("triggeredByEvent") != "true":
            _enter_scope(graph, node_id, node)
    graph.roots = _starts(main) + [
        start
        for scope in root.iter(_tag("subProcess"))
        if scope.get("triggeredByEvent") == "true"
        for start in _starts(scope)
    ]
    return graph


def _add_scope(graph: FlowGraph, scope: etree._Element) -> None:
    for child in scope:
        if child.tag == _tag("sequenceFlow"):
            graph.flows[child.get("sourceRef", "")].add(child.get("targetRef", ""))
        elif child.get("id") and child.tag.startswith(f"{{{BPMN}}}"):
            graph.nodes[child.get("id", "")] = child
            if child.tag == _tag("boundaryEvent"):
                graph.boundary[child.get("attachedToRef", "")].add(child.get("id", ""))
            if child.tag in _SCOPES:
                _add_scope(graph, child)


def _enter_scope(graph: FlowGraph, node_id: str, scope: etree._Element) -> None:
    """Control passes through a scope's content: the node leads only to its starts."""
    starts = _starts(scope)
    if not starts:
        return
    after = graph.flows[node_id]
    graph.flows[node_id] = set(starts)
    for end in scope.iterchildren(_tag("endEvent")):
        graph.flows[end.get("id", "")] |= after


def _starts(scope: etree._Element) -> list[str]:
    return [s.get("id", "") for s in scope.iterchildren(_tag("startEvent"))]


def _lanes(root: etree._Element) -> dict[str, str]:
    lanes: dict[str, str] = {}
    for lane in root.iter(_tag("lane")):
        for ref in lane.iterfind(_tag("flowNodeRef")):
            lanes[(ref.text or "").strip()] = lane.get("name") or ""
    return lanes
