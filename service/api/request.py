"""Reading request input with errors that name the field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request

from service.errors import Invalid


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid(
            "the request body must be a JSON object",
            details=[{"field": "body", "reason": "not a JSON object"}],
        )
    return body


def required_str(body: dict[str, Any], name: str, max_length: int = 256) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(
            f"{name} is required",
            details=[{"field": name, "reason": "a non-empty string is required"}],
        )
    if len(value) > max_length:
        raise Invalid(
            f"{name} is too long",
            details=[{"field": name, "reason": f"at most {max_length} characters"}],
        )
    return value


def optional_str(body: dict[str, Any], name: str, max_length: int) -> str | None:
    if body.get(name) is None:
        return None
    return required_str(body, name, max_length)


def aware_datetime(body: dict[str, Any], name: str) -> datetime:
    """An ISO 8601 date-time with its time zone: a bare local time means nothing on a server."""
    try:
        moment = datetime.fromisoformat(required_str(body, name, 40))
    except ValueError:
        raise Invalid.field(name, "an ISO 8601 date-time is required") from None
    if moment.tzinfo is None:
        raise Invalid.field(name, "include the time zone (for example +08:00 or Z)")
    return moment


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(
            f"{name} must be an integer", details=[{"field": name, "reason": "not an integer"}]
        ) from None
    if not low <= value <= high:
        raise Invalid(
            f"{name} out of range", details=[{"field": name, "reason": f"between {low} and {high}"}]
        )
    return value


def choice_arg(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = request.args.get(name, default)
    if value not in choices:
        raise Invalid(
            f"{name} is not valid", details=[{"field": name, "reason": f"one of {list(choices)}"}]
        )
    return value
