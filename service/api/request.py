"""Reading request input with errors that name the field."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import request

from service.errors import Invalid

# The largest id an INTEGER column holds (ids in paths: service.app's <int:> converter).
MAX_INT_ID = 2**31 - 1
# No request this API takes nests deeper than a form's data in a body (a few
# levels); the limit only keeps a hostile body from exhausting the stack.
MAX_JSON_DEPTH = 32
# A lone UTF-16 surrogate ("\ud800" in JSON) is no character: it cannot be
# encoded, stored or shown, so it is refused where it comes in.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def json_body() -> dict[str, Any]:
    """The request's body: a JSON object, checked (`checked_json`)."""
    body = _body()
    if not isinstance(body, dict):
        raise Invalid(
            "the request body must be a JSON object",
            details=[{"field": "body", "reason": "not a JSON object"}],
        )
    return body


def optional_json_body() -> dict[str, Any]:
    """The body of a request whose body may be left out: {} when there is none."""
    if not request.get_data(cache=True).strip():
        return {}
    return json_body()


def _body() -> Any:
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise Invalid(
            "the request body is not valid JSON",
            details=[{"field": "body", "reason": "not valid JSON (UTF-8)"}],
        ) from None
    checked_json(value, "body")
    return value


def checked_json(value: Any, where: str, depth: int = 0) -> None:
    """Refuse JSON no field of this API can hold: nested too deep, or a lone surrogate.

    Names the field where it was found (``body.data.reason``).
    """
    if depth > MAX_JSON_DEPTH:
        raise Invalid.field(where, f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise Invalid.field(where, "contains a lone surrogate, not a character")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise Invalid.field(where, "a key contains a lone surrogate, not a character")
            checked_json(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            checked_json(item, f"{where}[{index}]", depth + 1)


def required_str(body: dict[str, Any], name: str, max_length: int = 256) -> str:
    """A text field: something visible, no control or direction-changing characters.

    Line breaks and tabs are allowed (reasons run over lines); characters that
    show nothing (zero-width spaces alone) do not make a text non-empty.
    """
    value = body.get(name)
    if not isinstance(value, str) or not _VISIBLE.search(value):
        raise Invalid(
            f"{name} is required",
            details=[{"field": name, "reason": "a non-empty string is required"}],
        )
    if len(value) > max_length:
        raise Invalid(
            f"{name} is too long",
            details=[{"field": name, "reason": f"at most {max_length} characters"}],
        )
    if _CONTROL.search(value):
        raise Invalid.field(name, "must not contain control or text-direction characters")
    return value


# Anything but white space and invisible formatting (zero-width space, joiners, BOM).
_VISIBLE = re.compile(r"[^\s\u200b-\u200f\u2060-\u2064\ufeff]")
# C0/C1 controls but tab and line breaks; the bidirectional overrides and isolates,
# which make a stored text display as something else; line and paragraph separators.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def optional_str(body: dict[str, Any], name: str, max_length: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str) and not _VISIBLE.search(value):
        raise Invalid.field(name, "give a non-empty value, or leave the field out")
    return required_str(body, name, max_length)


def aware_datetime(body: dict[str, Any], name: str) -> datetime:
    """An ISO 8601 date-time with its time zone, as UTC (see `utc_moment`)."""
    return utc_moment(required_str(body, name, 40), name)


def utc_moment(text: str, name: str) -> datetime:
    """An ISO 8601 date-time with its time zone, converted to UTC.

    A bare local time means nothing on a server. The service keeps every
    moment in UTC: SQLite stores a date-time's clock reading without its
    offset, so "08:00+08:00" kept as given would read back as 08:00 UTC.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid.field(name, "an ISO 8601 date-time is required") from None
    if moment.tzinfo is None:
        raise Invalid.field(name, "include the time zone (for example +08:00 or Z)")
    return moment.astimezone(UTC)


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        if not re.fullmatch("-?[0-9]{1,19}", raw):
            raise ValueError(raw)
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
