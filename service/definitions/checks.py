"""The validation report of a version's content: engine rules, lint, forms, guard rails.

A report is a list of problems as the API shows them: element id, name, line
(where known), reason and severity. Errors make a draft unsubmittable;
warnings are advice (for example a diagram without layout cannot be drawn).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from service.access.service import ROLES
from service.definitions.guard import guard_rail_problems
from service.engine import DiagramError, Engine, Problem, parse_diagram_xml
from service.errors import Invalid

FORM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_FORMS_BYTES = 512 * 1024
MAX_FORMS = 64
_DI = b"BPMNDiagram"


def report_item(problem: Problem, severity: str = "error", **extra: Any) -> dict[str, Any]:
    return problem.as_dict() | {"severity": severity} | extra


def unreadable(bpmn: str) -> list[dict[str, Any]]:
    """Problems that make the bytes unreadable (hostile, too big, not XML); [] if readable."""
    try:
        parse_diagram_xml(bpmn.encode("utf-8"))
    except DiagramError as err:
        return [report_item(p) for p in err.problems]
    return []


def check_forms(forms: Any) -> dict[str, Any]:
    """The forms object, or Invalid naming the form and the reason."""
    if not isinstance(forms, dict):
        raise Invalid.field("forms", "an object mapping form names to JSON Schemas is required")
    if len(forms) > MAX_FORMS:
        raise Invalid.field("forms", f"at most {MAX_FORMS} forms")
    if len(json.dumps(forms, ensure_ascii=False).encode()) > MAX_FORMS_BYTES:
        raise Invalid.field("forms", f"the forms are larger than {MAX_FORMS_BYTES} bytes")
    return forms


def content_report(engine: Engine, bpmn: str, forms: dict[str, Any]) -> list[dict[str, Any]]:
    """Every problem of a version's content; [] means it may be submitted."""
    xml = bpmn.encode("utf-8")
    report = [report_item(p) for p in engine.validate(xml, roles=set(ROLES), forms=set(forms))]
    report += _form_problems(forms)
    report += [
        report_item(problem, path=path)
        for problem, path in guard_rail_problems(xml, engine.connectors)
    ]
    return report + _layout_warning(xml)


def has_errors(report: list[dict[str, Any]]) -> bool:
    return any(item["severity"] == "error" for item in report)


def _form_problems(forms: dict[str, Any]) -> list[dict[str, Any]]:
    problems = []
    for name, schema in forms.items():
        reason = _form_reason(name, schema)
        if reason:
            problems.append(report_item(Problem(None, None, None, f"form {name!r}: {reason}")))
    return problems


def _form_reason(name: str, schema: Any) -> str | None:
    if not FORM_NAME.match(name):
        return "a form name is lower-case letters, digits and underscores"
    if not isinstance(schema, dict):
        return "a form is a JSON Schema object"
    if schema.get("type") != "object":
        return 'a form schema must have "type": "object"'
    return _schema_reason(json.dumps(schema, sort_keys=True, ensure_ascii=False))


@functools.lru_cache(maxsize=512)
def _schema_reason(canonical: str) -> str | None:
    # Checking against the metaschema costs tens of milliseconds; forms rarely change.
    try:
        Draft202012Validator.check_schema(json.loads(canonical))
    except SchemaError as err:
        return f"not a valid JSON Schema: {err.message}"
    return None


def _layout_warning(xml: bytes) -> list[dict[str, Any]]:
    if _DI in xml:
        return []
    reason = "the diagram has no layout (BPMN DI), so the browser modeler cannot draw it"
    return [report_item(Problem(None, None, None, reason), "warning")]
