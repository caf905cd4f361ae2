"""The audit trail over HTTP: search, export, checkpoints, proofs (auditor, compliance, admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from service.api.auth import authenticated, current_actor, deps
from service.api.openapi import op, path_param
from service.api.request import choice_arg, int_arg, utc_moment
from service.audit import checkpoints
from service.audit.search import LOGS, AuditQuery, export_lines, search_records
from service.audit.verify import verify_for
from service.errors import Invalid

blueprint = Blueprint("audit", __name__, url_prefix="/api/v1")

_TEXT_FILTERS = {
    "subject": "subject",
    "actor": "actor",
    "action": "action",
    "procedure": "procedure",
    "case": "case_id",
    "outcome": "outcome",
}


@blueprint.get("/audit/records")
@authenticated
def search():
    query = AuditQuery(
        **{field: _text_arg(name) for name, field in _TEXT_FILTERS.items()},
        since=_time_arg("from"),
        until=_time_arg("to"),
        log=choice_arg("log", "all", LOGS),
        after_seq=int_arg("after", 0, 0, 2**62),
        limit=int_arg("limit", 100, 1, 1000),
    )
    return jsonify(search_records(deps(), current_actor(), query))


@blueprint.get("/audit/export")
@authenticated
def export():
    first = int_arg("from", 1, 1, 2**62)
    last = request.args.get("to")
    lines = list(
        export_lines(deps(), current_actor(), first, int_arg("to", 1, 1, 2**62) if last else None)
    )
    return Response(lines, mimetype="application/x-ndjson")


@blueprint.post("/audit/verify")
@authenticated
def verify():
    return jsonify(verify_for(deps(), current_actor()))


@blueprint.get("/audit/checkpoints")
@authenticated
def list_checkpoints():
    before = request.args.get("before")
    result = checkpoints.list_checkpoints(
        deps(),
        current_actor(),
        int_arg("limit", 50, 1, 500),
        int_arg("before", 0, 1, 2**62) if before else None,
    )
    return jsonify(result)


@blueprint.get("/audit/records/<bigint:seq>/proof")
@authenticated
def inclusion_proof(seq: int):
    given = request.args.get("checkpoint")
    n = int_arg("checkpoint", 1, 1, 2**62) if given else None
    return jsonify(checkpoints.inclusion(deps(), current_actor(), seq, n))


@blueprint.get("/audit/records/<bigint:seq>/change")
@authenticated
def change_detail(seq: int):
    from service.vault.changes import read_change_log_entry

    return jsonify(read_change_log_entry(deps(), current_actor(), seq))


@blueprint.get("/audit/checkpoints/<bigint:n>/consistency")
@authenticated
def consistency_proof(n: int):
    if request.args.get("from") is None:
        raise Invalid.field("from", "the older checkpoint's number is required")
    return jsonify(
        checkpoints.consistency(deps(), current_actor(), n, int_arg("from", 1, 1, 2**62))
    )


def _text_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is not None and not 0 < len(value) <= 200:
        raise Invalid.field(name, "between 1 and 200 characters")
    return value


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    return utc_moment(raw, name)


_FORBIDDEN = (401, 403, 422)
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/audit/verify": {
        "post": op(
            "Verify the live chain and every checkpoint; the result names the first bad record",
            errors=(401, 403),
        )
    },
    "/api/v1/audit/records": {
        "get": op(
            "Search audit records (subject, actor, action, procedure, case, outcome, from, to,"
            " log=all|changes|queries, after, limit)",
            errors=_FORBIDDEN,
        )
    },
    "/api/v1/audit/export": {
        "get": op(
            "Export records from..to as JSONL with the checkpoint and inclusion proof",
            errors=(401, 403, 404, 422),
        )
    },
    "/api/v1/audit/checkpoints": {
        "get": op("Signed checkpoints, newest first, with the public key", errors=_FORBIDDEN)
    },
    "/api/v1/audit/records/{seq}/proof": {
        "get": op("A record and its inclusion proof in a checkpoint (latest by default)")
        | {"parameters": path_param("seq")}
    },
    "/api/v1/audit/records/{seq}/change": {
        "get": op(
            "The before and after values of a change-log record (an update), decrypted for "
            "auditors and compliance; the read is itself audited; 410 once the subject is deleted",
            errors=(401, 403, 404, 410),
        )
        | {"parameters": path_param("seq")}
    },
    "/api/v1/audit/checkpoints/{n}/consistency": {
        "get": op("Consistency proof from checkpoint `from` to checkpoint n")
        | {"parameters": path_param("n")}
    },
}
