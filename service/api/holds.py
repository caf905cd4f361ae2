"""After a deletion request: legal holds (list, place, release) and the deletion certificates.

The use cases are service/vault/holds.py and service/vault/certificates.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from service.api.auth import current_actor, deps
from service.api.openapi import STR, op, path_param
from service.api.request import (
    aware_datetime,
    choice_arg,
    int_arg,
    json_body,
    optional_str,
    required_str,
)
from service.vault import certificates, holds

blueprint = Blueprint("holds", __name__, url_prefix="/api/v1")

# The fields that name a person the way a court order does (instead of the pseudonym).
IDENTIFY = ("id_type", "id_number", "mobile")


@blueprint.get("/holds")
def list_holds():
    state = choice_arg("state", "active", holds.HOLD_STATES)
    subject = request.args.get("subject") or None
    limit = int_arg("limit", 200, 1, 1000)
    return jsonify({"holds": holds.list_holds(deps(), current_actor(), subject, state, limit)})


@blueprint.post("/holds")
def place_hold():
    body = json_body()
    subject = optional_str(body, "subject", 40)
    # Looked up through the blind index, never kept.
    identify = {name: required_str(body, name, 64) for name in IDENTIFY if name in body}
    kind = required_str(body, "kind", 16)
    reason = required_str(body, "reason", holds.REASON_MAX)
    until = aware_datetime(body, "until") if body.get("until") is not None else None
    placed = holds.place_hold(deps(), current_actor(), subject, kind, reason, until, identify)
    return jsonify(placed), 201


@blueprint.post("/holds/<hold_id>/release")
def release_hold(hold_id: str):
    reason = required_str(json_body(), "reason", holds.REASON_MAX)
    return jsonify(holds.release_hold(deps(), current_actor(), hold_id, reason))


@blueprint.get("/certificates/<certificate_id>")
def show_certificate(certificate_id: str):
    return jsonify(certificates.show(deps(), current_actor(), certificate_id))


_KINDS = {"type": "string", "enum": list(holds.HOLD_KINDS)}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/holds": {
        "get": op(
            "Legal holds and retention periods, newest first: ?state=active (in force, the "
            "default), released or all; ?subject= for one subject; ?limit= (200, at most 1000)",
            errors=(401, 403, 422),
        ),
        "post": op(
            "Place a legal hold (open-ended) or a retention period (until a date) on a subject, "
            "named by its pseudonym or by id_type and id_number (or mobile): it is stored and "
            "secured, never destroyed, while the hold lasts; audited",
            body={
                "type": "object",
                "properties": {
                    "subject": STR,
                    "id_type": STR,
                    "id_number": STR,
                    "mobile": STR,
                    "kind": _KINDS,
                    "reason": STR,
                    "until": {"type": "string", "format": "date-time"},
                },
                "required": ["kind", "reason"],
            },
            ok=201,
            errors=(401, 403, 404, 409, 422),
        ),
    },
    "/api/v1/holds/{hold_id}/release": {
        "post": op(
            "Release a hold with a reason; a deletion it held up runs again; audited",
            body={"type": "object", "properties": {"reason": STR}, "required": ["reason"]},
            errors=(401, 403, 404, 409, 422),
        ),
        "parameters": path_param("hold_id"),
    },
    "/api/v1/certificates/{certificate_id}": {
        "get": op(
            "A signed deletion certificate: what was destroyed, when and why, with the "
            "server's check of its signature (check it offline with `datasteward certificates "
            "verify`)",
            errors=(401, 403, 404),
        ),
        "parameters": path_param("certificate_id"),
    },
}
