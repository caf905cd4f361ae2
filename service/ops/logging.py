"""Structured JSON logs: one object per line, request ids, never personal data.

Only the fields in `ALLOWED_FIELDS` ever leave the process: anything else a
caller passes in ``extra=`` is dropped, so a careless ``extra={"form": data}``
cannot put a customer's details into the log. Exception messages are dropped
too (they can quote input, SQL parameters or form values); the exception type
and the stack frames are kept, and the request id ties the line to the audit
trail. Messages themselves are masked for the shapes of mainland ID numbers,
mobile numbers and e-mail addresses as a last line of defence.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

# Fields a log line may carry besides time, level, logger and message.
ALLOWED_FIELDS = frozenset(
    {
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "actor_id",
        "case_id",
        "task_id",
        "procedure",
        "job_id",
        "task_name",
        "queue",
        "outcome",
        "pid",
        "check",
    }
)

_MASKS = (
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), "[id-number]"),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"), "[mobile]"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[email]"),
)
_MESSAGE_LIMIT = 2000
# The engine logs every task state change at INFO: one line per step of every case.
QUIET_LIBRARIES = ("spiff", "SpiffWorkflow")


def mask(text: str) -> str:
    """Replace anything shaped like an ID number, a mobile number or an e-mail address."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text[:_MESSAGE_LIMIT]


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object holding only allow-listed fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(_message(record)),
        }
        for name in ALLOWED_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value if isinstance(value, int | float) else mask(str(value))
        if "request_id" not in line:
            request_id = _current_request_id()
            if request_id:
                line["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc_frames"] = _frames(record.exc_info[2])
        return json.dumps(line, ensure_ascii=False, default=str)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        return str(record.msg)


def _frames(tb: Any) -> list[str]:
    """Where the error happened, without the exception's message or any local values."""
    return [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)][-12:]


def _current_request_id() -> str | None:
    from flask import g, has_request_context

    if has_request_context():
        return getattr(g, "request_id", None)
    return None


def json_handler(stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.set_name("datasteward-json")
    return handler


def configure_logging(level: str | int = "INFO") -> None:
    """Send every log record of this process through one JSON handler on stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "datasteward-json":
            root.removeHandler(handler)
    root.addHandler(json_handler())
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def gunicorn_logconfig(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for gunicorn: its own logs in the same JSON."""
    formatter = {"()": "service.ops.logging.JsonFormatter"}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {"json": handler},
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            **{name: {"level": "WARNING"} for name in QUIET_LIBRARIES},
        },
    }
