"""Semantic diff of two diagrams: what a reviewer needs to see, element by element.

Works on the safely parsed XML (never on SpiffWorkflow specs), so it explains
changes in the words of the diagram: a flow rerouted, a condition rewritten,
a task moved to another lane, a connector or timer changed.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .specs import BPMN_NS, bpmn_tag
from .validation import FLOW_NODES, SPIFF_NS
from .xml import parse_diagram_xml

_FLOW = bpmn_tag("sequenceFlow")
_LANE = bpmn_tag("lane")
_EXT = bpmn_tag("extensionElements")
_PROPERTY = f"{_EXT}/{{{SPIFF_NS}}}properties/{{{SPIFF_NS}}}property"
_OPERATOR = f"{_EXT}/{{{SPIFF_NS}}}serviceTaskOperator"
# The order in which changes of one element are listed.
ASPECTS = (
    "type",
    "name",
    "lane",
    "flow_source",
    "flow_target",
    "condition",
    "default",
    "form",
    "due",
    "connector",
    "parameter",
    "timer",
    "attached_to",
)


def diagram_elements(xml: bytes) -> dict[str, dict[str, Any]]:
    """Each flow node, sequence flow and lane of the diagram, by id, with its aspects."""
    root = parse_diagram_xml(xml)
    lanes = _lane_names(root)
    elements: dict[str, dict[str, Any]] = {}
    for process in root.iter(bpmn_tag("process")):
        for element in process.iter(tag=etree.Element):
            if element.tag in FLOW_NODES or element.tag in (_FLOW, _LANE):
                element_id = element.get("id")
                if element_id:
                    elements[element_id] = _aspects(element, lanes)
    return elements


def diff_diagrams(before: bytes, after: bytes) -> dict[str, list[dict[str, Any]]]:
    """Elements added, removed and changed between two diagrams (DI layout is ignored)."""
    old, new = diagram_elements(before), diagram_elements(after)
    changed = []
    for element_id in sorted(old.keys() & new.keys()):
        changes = _changes(old[element_id], new[element_id])
        if changes:
            changed.append(_identity(element_id, new[element_id]) | {"changes": changes})
    return {
        "added": [_identity(i, new[i]) for i in sorted(new.keys() - old.keys())],
        "removed": [_identity(i, old[i]) for i in sorted(old.keys() - new.keys())],
        "changed": changed,
    }


def _identity(element_id: str, aspects: dict[str, Any]) -> dict[str, Any]:
    return {"id": element_id, "type": aspects["type"], "name": aspects.get("name")}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"what": aspect, "before": old.get(aspect), "after": new.get(aspect)}
        for aspect in ASPECTS
        if old.get(aspect) != new.get(aspect)
    ]


def _aspects(element: etree._Element, lanes: dict[str, str]) -> dict[str, Any]:
    aspects: dict[str, Any] = {
        "type": etree.QName(element).localname,
        "name": element.get("name"),
    }
    if element.tag == _FLOW:
        aspects |= _flow_aspects(element)
    elif element.tag != _LANE:
        aspects["lane"] = lanes.get(element.get("id", ""))
        aspects |= _node_aspects(element)
    return {k: v for k, v in aspects.items() if v is not None}


def _flow_aspects(flow: etree._Element) -> dict[str, Any]:
    condition = flow.find(bpmn_tag("conditionExpression"))
    return {
        "flow_source": flow.get("sourceRef"),
        "flow_target": flow.get("targetRef"),
        "condition": (condition.text or "").strip() if condition is not None else None,
    }


def _node_aspects(node: etree._Element) -> dict[str, Any]:
    properties = {p.get("name"): p.get("value") for p in node.iterfind(_PROPERTY)}
    operator = node.find(_OPERATOR)
    return {
        "default": node.get("default"),
        "form": properties.get("form"),
        "due": properties.get("due"),
        "connector": operator.get("id") if operator is not None else None,
        "parameter": _parameters(operator) if operator is not None else None,
        "timer": _timer(node),
        "attached_to": node.get("attachedToRef"),
    }


def _parameters(operator: etree._Element) -> dict[str, Any]:
    params = {p.get("id"): p.get("value") for p in operator.iter(f"{{{SPIFF_NS}}}parameter")}
    result = operator.get("resultVariable")
    return params | ({"resultVariable": result} if result else {})


def _timer(node: etree._Element) -> dict[str, str] | None:
    definition = node.find(bpmn_tag("timerEventDefinition"))
    if definition is None:
        return None
    return {etree.QName(c).localname: (c.text or "").strip() for c in definition}


def _lane_names(root: etree._Element) -> dict[str, str]:
    # Innermost lane wins: iter() visits a parent lane before its child lanes.
    names: dict[str, str] = {}
    for lane in root.iter(bpmn_tag("lane")):
        for ref in lane.iterfind(bpmn_tag("flowNodeRef")):
            names[(ref.text or "").strip()] = lane.get("name") or ""
    return names


__all__ = ["ASPECTS", "BPMN_NS", "diagram_elements", "diff_diagrams"]
