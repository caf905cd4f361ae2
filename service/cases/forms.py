"""Form data: JSON Schema validation with errors that name fields, never values."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from service.errors import Invalid

_validators: dict[str, Draft202012Validator] = {}
_within: dict[str, dict[str, str]] = {}


def validate_form(schema: dict[str, Any], data: Any, cache_key: str | None = None) -> None:
    """Raise Invalid naming every bad field; the reason never echoes the value."""
    if not isinstance(data, dict):
        raise Invalid.field("data", "must be a JSON object")
    errors = sorted(_validator(schema, cache_key).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        raise Invalid("form data failed validation", details=[_detail(e) for e in errors])


def within_rules(schema: dict[str, Any], cache_key: str | None = None) -> dict[str, str]:
    """Array fields whose items must come from a list already in the case's data.

    ``"x-within": "fields"`` on an array property means every item answered
    must be one of the case's ``fields`` (a reviewer may narrow a request,
    never widen it). Empty for most forms, so the check costs nothing there.
    """
    key = cache_key or json.dumps(schema, sort_keys=True)
    rules = _within.get(key)
    if rules is None:
        properties = schema.get("properties", {})
        rules = _within[key] = {
            name: prop["x-within"]
            for name, prop in properties.items()
            if isinstance(prop, dict) and isinstance(prop.get("x-within"), str)
        }
    return rules


def check_within(rules: dict[str, str], data: dict[str, Any], case_data: dict[str, Any]) -> None:
    """Raise Invalid naming each answer with items outside the case's list it is bound to."""
    details = []
    for name, source in rules.items():
        answered = data.get(name)
        if not isinstance(answered, list):
            continue
        allowed = case_data.get(source)
        allowed = set(allowed) if isinstance(allowed, list) else set()
        outside = sorted({str(item) for item in answered if item not in allowed})
        if outside:
            details.append(
                {"field": name, "reason": f"may only include items of {source}; not {outside}"}
            )
    if details:
        raise Invalid("form data failed validation", details=details)


def split_fields(
    schema: dict[str, Any], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(workflow data, personal values, customer lookup values) of a form's answers.

    ``x-lookup`` names the subject field a lookup value stands for (``id_type``,
    ``id_number``, ``mobile``); lookups win over ``x-personal``.
    """
    properties = schema.get("properties", {})
    lookup = {
        properties[k]["x-lookup"]: v
        for k, v in data.items()
        if properties.get(k, {}).get("x-lookup") and v not in (None, "")
    }
    rest_schema = {
        **schema,
        "properties": {k: p for k, p in properties.items() if not p.get("x-lookup")},
    }
    rest = {k: v for k, v in data.items() if not properties.get(k, {}).get("x-lookup")}
    task_data, personal = split_personal(rest_schema, rest)
    return task_data, personal, lookup


def split_personal(
    schema: dict[str, Any], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate fields marked ``x-personal`` (for the vault) from the rest (for the workflow)."""
    properties = schema.get("properties", {})
    personal = {k: v for k, v in data.items() if properties.get(k, {}).get("x-personal")}
    if personal and "id_type" in data:
        personal["id_type"] = data["id_type"]
    rest = {k: v for k, v in data.items() if k not in personal}
    return rest, personal


def _validator(schema: dict[str, Any], cache_key: str | None) -> Draft202012Validator:
    key = cache_key or json.dumps(schema, sort_keys=True)
    validator = _validators.get(key)
    if validator is None:
        validator = _validators[key] = Draft202012Validator(schema)
    return validator


def _detail(error: ValidationError) -> dict[str, str]:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        return {"field": ".".join(filter(None, [path, missing])), "reason": "is required"}
    if error.validator == "additionalProperties":
        return {"field": path or "data", "reason": "has fields the form does not define"}
    return {"field": path or "data", "reason": _reason(error)}


def _reason(error: ValidationError) -> str:
    rule, expected = error.validator, error.validator_value
    reasons = {
        "type": f"must be of type {expected}",
        "enum": f"must be one of {expected}",
        "const": f"must be {expected!r}",
        "pattern": f"must match the pattern {expected}",
        "minLength": f"must be at least {expected} characters",
        "maxLength": f"must be at most {expected} characters",
        "minimum": f"must be at least {expected}",
        "maximum": f"must be at most {expected}",
        "format": f"must be a valid {expected}",
    }
    return reasons.get(str(rule), f"fails the {rule} rule")
