"""Logs are JSON lines with request ids, and hold no personal data."""

from __future__ import annotations

import io
import json
import logging

import pytest

from service.ops.logging import ALLOWED_FIELDS, json_handler, mask
from tests.api.conftest import CONSENT, VALID_FORM


@pytest.fixture
def log_lines():
    """Every record logged during the test, through the production JSON handler."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(saved)


def test_each_request_is_one_json_line_with_its_request_id(client, log_lines):
    reply = client.get("/api/v1/openapi.json", headers={"X-Request-Id": "req-42"})
    assert reply.headers["X-Request-Id"] == "req-42"
    [line] = [entry for entry in log_lines() if entry["logger"] == "datasteward.request"]
    assert line["request_id"] == "req-42"
    assert line["route"] == "/api/v1/openapi.json"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["duration_ms"] >= 0


def test_a_whole_collection_logs_no_personal_data(client, api, log_lines):
    desk, reviewer = api("frontdesk"), api("reviewer")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    review = reviewer.task_of(case["id"], "review")
    reviewer.get(f"/api/v1/tasks/{review}")
    reviewer.complete(review, {"decision": "approve"})
    lines = log_lines()
    assert len([e for e in lines if e["logger"] == "datasteward.request"]) >= 8
    written = json.dumps(lines, ensure_ascii=False)
    for value in VALID_FORM.values():
        if value != VALID_FORM["id_type"]:
            assert value not in written


def test_fields_outside_the_allow_list_are_dropped(log_lines):
    logging.getLogger("datasteward.test").info(
        "stored", extra={"case_id": "c-1", "form": {"name": "张三丰"}, "phone": "13812345678"}
    )
    [line] = log_lines()
    assert line["case_id"] == "c-1"
    assert "form" not in line and "phone" not in line
    assert set(line) <= ALLOWED_FIELDS | {"ts", "level", "logger", "message"}


def test_an_exception_is_logged_by_type_and_place_without_its_message(log_lines):
    try:
        raise ValueError("bad id 11010519491231002X for 张三丰")
    except ValueError:
        logging.getLogger("datasteward.test").exception("failed")
    [line] = log_lines()
    assert line["exc_type"] == "ValueError"
    assert any("test_logging.py" in frame for frame in line["exc_frames"])
    assert "张三丰" not in json.dumps(line, ensure_ascii=False)
    assert "11010519491231002X" not in json.dumps(line)


def test_messages_are_masked_for_id_numbers_mobiles_and_emails():
    text = mask("id 11010519491231002X phone +86 13812345678 mail li.na@example.cn")
    assert text == "id [id-number] phone [mobile] mail [email]"
