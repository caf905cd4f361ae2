"""The audit API: search for auditors only, proofs the CLI's verifier accepts, export, 403s."""

from __future__ import annotations

import json

import pytest

from service.audit.checkpoints import make_checkpoint
from service.audit.offline import verify_export_file, verify_proof_document
from service.signing import load_signing_key
from tests.api.conftest import CONSENT


@pytest.fixture
def key(deps):
    return load_signing_key(deps.settings, create=True).public_key()


@pytest.fixture
def started(api):
    desk = api("frontdesk")
    case = desk.start()
    desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT)
    return case


@pytest.mark.parametrize("username", ["frontdesk", "reviewer", "dept", "owner", "officer"])
def test_only_auditors_compliance_and_admins_may_search_the_trail(api, username) -> None:
    assert api(username).get("/api/v1/audit/records").status == 403


def test_a_refused_look_at_the_trail_is_itself_recorded(api, deps) -> None:
    api("dept").get("/api/v1/audit/records")
    found = api("auditor").get("/api/v1/audit/records?outcome=refused&actor=dept").body
    assert [r["detail"]["endpoint"] for r in found["records"]] == ["audit.search"]


def test_search_filters_by_case_and_pages_in_seq_order(api, started) -> None:
    auditor = api("auditor")
    first = auditor.get(f"/api/v1/audit/records?case={started['id']}&limit=1").body
    assert first["records"][0]["action"] == "case.start"
    rest = auditor.get(
        f"/api/v1/audit/records?case={started['id']}&after={first['next_after']}"
    ).body
    assert [r["action"] for r in rest["records"]] == ["task.complete"]
    assert rest["next_after"] is None
    # The reference pages and customers quote (the id's first eight characters) finds the same.
    whole = auditor.get(f"/api/v1/audit/records?case={started['id']}").body["records"]
    by_reference = auditor.get(f"/api/v1/audit/records?case={started['id'][:8].upper()}")
    assert by_reference.body["records"] == whole
    other = "00000000" if not started["id"].startswith("00000000") else "ffffffff"
    assert auditor.get(f"/api/v1/audit/records?case={other}").body["records"] == []


def test_search_by_outcome_actor_and_time_range(api, clock) -> None:
    from datetime import timedelta

    api("frontdesk")
    compliance = api("compliance")
    day = clock().date().isoformat()
    after = (clock() + timedelta(days=1)).date().isoformat()
    found = compliance.get(
        "/api/v1/audit/records?actor=frontdesk&action=auth.login&outcome=done"
        f"&from={day}T00:00:00Z&to={after}T00:00:00%2B00:00"
    ).body["records"]
    assert [(r["actor"], r["action"], r["at"]) for r in found] == [
        ("frontdesk", "auth.login", clock().strftime("%Y-%m-%dT%H:%M:%S.000000Z"))
    ]
    none = compliance.get(f"/api/v1/audit/records?actor=frontdesk&from={after}T00:00:00Z")
    assert none.body["records"] == []


def test_the_query_log_is_a_view_of_subject_reads(api, deps) -> None:
    from service.access.service import Actor
    from service.audit.service import Event, record_alone

    record_alone(
        deps,
        Actor(3, "reviewer", frozenset({"reviewer"})),
        Event("subject.read", subject="psn-1", fields=["mobile"]),
    )
    queries = api("auditor").get("/api/v1/audit/records?log=queries").body["records"]
    assert [(r["action"], r["subject"], r["fields"]) for r in queries] == [
        ("subject.read", "psn-1", ["mobile"])
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=yesterday", "from"),
        ("from=2026-03-02T00:00:00", "from"),
        ("limit=0", "limit"),
        ("log=everything", "log"),
        ("after=x", "after"),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field(api, query, field) -> None:
    reply = api("auditor").get(f"/api/v1/audit/records?{query}")
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["field"] == field


def test_an_inclusion_proof_from_the_api_verifies_offline(api, deps, started, key) -> None:
    make_checkpoint(deps)
    proof = api("auditor").get("/api/v1/audit/records/3/proof").body
    assert verify_proof_document(proof, key) == (
        True,
        f"record 3 is in checkpoint 1 (tree size {proof['checkpoint']['tree_size']})",
    )
    proof["record"]["actor"] = "someone-else"
    assert verify_proof_document(proof, key)[0] is False


def test_a_consistency_proof_from_the_api_verifies_offline(api, deps, started, key) -> None:
    make_checkpoint(deps)
    api("reviewer")
    make_checkpoint(deps)
    proof = api("auditor").get("/api/v1/audit/checkpoints/2/consistency?from=1").body
    assert verify_proof_document(proof, key) == (True, "checkpoint 2 extends checkpoint 1")
    proof["path"][0] = "00" * 32
    assert verify_proof_document(proof, key)[0] is False


def test_proofs_name_missing_checkpoints_and_arguments(api, deps, started, key) -> None:
    auditor = api("auditor")
    assert auditor.get("/api/v1/audit/records/1/proof").status == 404
    make_checkpoint(deps)
    assert auditor.get("/api/v1/audit/records/1/proof?checkpoint=9").status == 404
    assert auditor.get("/api/v1/audit/records/999/proof").status == 422
    missing = auditor.get("/api/v1/audit/checkpoints/1/consistency")
    assert (missing.status, missing.body["error"]["details"][0]["field"]) == (422, "from")


def test_the_checkpoint_list_carries_the_public_key(api, deps, started, key) -> None:
    make_checkpoint(deps)
    listing = api("admin").get("/api/v1/audit/checkpoints").body
    assert [c["n"] for c in listing["checkpoints"]] == [1]
    assert listing["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")


def test_an_exported_range_verifies_offline_and_a_changed_line_does_not(
    api, client, deps, started, key, tmp_path
) -> None:
    auditor = api("auditor")
    make_checkpoint(deps)
    reply = client.get("/api/v1/audit/export?from=2&to=4", headers=auditor.headers)
    assert reply.status_code == 200 and reply.mimetype == "application/x-ndjson"
    export = tmp_path / "range.jsonl"
    export.write_bytes(reply.data)
    assert verify_export_file(export, key) == []
    lines = reply.data.decode().splitlines()
    changed = json.loads(lines[2])
    changed["record"]["outcome"] = "refused"
    lines[2] = json.dumps(changed)
    export.write_text("\n".join(lines))
    assert verify_export_file(export, key) == ["record 3: hash mismatch at seq 3: record changed"]


def test_a_forbidden_case_view_leaves_a_refusal_record_with_the_endpoint(api, started) -> None:
    assert api("dept").get(f"/api/v1/cases/{started['id']}").status == 403
    found = api("auditor").get("/api/v1/audit/records?outcome=refused").body["records"]
    assert [(r["actor"], r["case_id"], r["detail"]["endpoint"]) for r in found] == [
        ("dept", started["id"], "api.show_case")
    ]
