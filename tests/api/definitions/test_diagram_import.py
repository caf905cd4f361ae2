"""Diagrams from other modelers and hostile XML, uploaded through the versions API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.api.definitions.conftest import put
from tests.conftest import SHARED

MIWG = sorted((SHARED / "testdata" / "bpmn-miwg-reference").glob("*.bpmn"))

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol3;</definitions>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
<process id="p">&xxe;</process></definitions>"""
DEEP = (
    '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">'
    + "<documentation>" * 10_000
    + "</documentation>" * 10_000
    + "</definitions>"
)


def test_the_reference_set_has_all_twenty_one_diagrams():
    assert len(MIWG) == 21


@pytest.mark.parametrize("path", MIWG, ids=lambda p: p.stem)
def test_each_miwg_reference_diagram_is_parsed_or_reported(api, draft, path: Path):
    owner = api("owner")
    bpmn = path.read_text(encoding="utf-8")
    reply = put(owner, f"/api/v1/versions/{draft['id']}", {"bpmn": bpmn, "forms": {}})
    assert reply.status in (200, 422), reply.body
    report = reply.body["report"] if reply.status == 200 else reply.body["error"]["details"]
    for problem in report:
        assert problem["reason"] and problem["severity"] in ("error", "warning")
        assert set(problem) >= {"element_id", "element_name", "line", "reason"}
    if reply.status == 200:
        shown = owner.get(f"/api/v1/versions/{draft['id']}")
        assert shown.status == 200 and shown.body["bpmn"] == bpmn


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (BILLION_LAUGHS, "DOCTYPE"),
        (EXTERNAL_ENTITY, "DOCTYPE"),
        (DEEP, "depth"),
        ("<definitions" + " " * (3 * 1024 * 1024) + "/>", "limit"),
    ],
    ids=["billion-laughs", "external-entity", "deep-nesting", "3-MB-diagram"],
)
def test_hostile_xml_is_refused_quickly_and_nothing_is_stored(api, draft, xml, reason):
    owner = api("owner")
    started = time.perf_counter()
    reply = put(owner, f"/api/v1/versions/{draft['id']}", {"bpmn": xml, "forms": {}})
    assert time.perf_counter() - started < 2
    assert reply.status == 422
    details = reply.body["error"]["details"]
    assert any(reason.lower() in d["reason"].lower() for d in details), details
    assert "root:" not in str(reply.body)
    after = owner.get(f"/api/v1/versions/{draft['id']}").body
    assert after["content_hash"] == draft["content_hash"]


def test_a_fifty_megabyte_upload_gets_a_clear_json_error(api, draft):
    owner = api("owner")
    body = b'{"bpmn": "' + b"x" * (50 * 1024 * 1024) + b'", "forms": {}}'
    started = time.perf_counter()
    reply = owner.client.put(
        f"/api/v1/versions/{draft['id']}",
        data=body,
        headers=owner.headers | {"Content-Type": "application/json"},
    )
    assert time.perf_counter() - started < 5
    assert reply.status_code == 413
    assert reply.get_json()["error"]["code"]


def test_a_form_that_is_not_a_json_schema_is_reported(api, draft):
    owner = api("owner")
    shown = owner.get(f"/api/v1/versions/{draft['id']}").body
    forms = shown["forms"] | {"consent": {"type": "object", "properties": 7}}
    reply = put(owner, f"/api/v1/versions/{draft['id']}", {"bpmn": shown["bpmn"], "forms": forms})
    assert reply.status == 200
    assert any("form 'consent'" in p["reason"] for p in reply.body["report"])
    assert (
        put(owner, f"/api/v1/versions/{draft['id']}", {"bpmn": "<x/>", "forms": []}).status == 422
    )
