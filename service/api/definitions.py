"""Versions API: drafting, review, publishing, history, diffs, migration, feedback, reviews.

The contract the browser UI builds against is docs-level stable: see the
version object in `service.definitions.views`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from service.api.auth import authenticated, current_actor, deps
from service.api.openapi import STR, obj, op, path_param
from service.api.request import MAX_INT_ID, json_body, optional_json_body, optional_str
from service.cases import migration
from service.definitions import feedback, review, versions
from service.definitions.diffs import diff_versions
from service.errors import Invalid

blueprint = api = Blueprint("definitions", __name__, url_prefix="/api/v1")

# The access gate refuses an endpoint without a rule; these rules live next to the
# views so they cannot drift apart (setdefault: a rule in the central table wins).
# Publish, retire and the review start are AUTHENTICATED at the gate because the
# contract lets both compliance and process owners do them; the use cases check roles.
ENDPOINT_RULES: dict[str, str] = {
    "list_versions": "version.read",
    "create_draft": "version.draft",
    "show_version": "version.read",
    "save_draft": "version.draft",
    "submit": "version.draft",
    "approve": "version.review",
    "reject": "version.review",
    "publish": "authenticated",
    "retire": "authenticated",
    "diff": "version.read",
    "version_bpmn": "version.read",
    "migration_dry_run": "version.publish",
    "migrate": "version.publish",
    "leave_feedback": "authenticated",
    "list_feedback": "version.read",
    "start_review": "authenticated",
    "list_reviews": "version.read",
}


def _declare_rules() -> None:
    from service.access.permissions import ENDPOINT_PERMISSIONS

    for view, rule in ENDPOINT_RULES.items():
        ENDPOINT_PERMISSIONS.setdefault(f"{blueprint.name}.{view}", rule)


_declare_rules()


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Invalid.field(name, "a string is required")
    return value


def _optional_int(value: Any, name: str) -> int | None:
    """A version id given in a body (a JSON integer) or a query string (digits), or None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_INT_ID:
        raise Invalid.field(name, "an integer version id is required")
    return value


@api.get("/procedures/<procedure>/versions")
@authenticated
def list_versions(procedure: str):
    return jsonify({"versions": versions.list_versions(deps(), current_actor(), procedure)})


@api.post("/procedures/<procedure>/versions")
@authenticated
def create_draft(procedure: str):
    body = json_body()
    summary = _text(body, "summary") or ""
    based_on = _optional_int(body.get("based_on"), "based_on")
    return jsonify(
        versions.create_draft(deps(), current_actor(), procedure, summary, based_on)
    ), 201


@api.get("/versions/<int:version_id>")
@authenticated
def show_version(version_id: int):
    return jsonify(versions.show_version(deps(), current_actor(), version_id))


@api.put("/versions/<int:version_id>")
@authenticated
def save_draft(version_id: int):
    body = json_body()
    bpmn = _text(body, "bpmn", required=True) or ""
    saved = versions.save_draft(
        deps(), current_actor(), version_id, bpmn, body.get("forms"), _text(body, "summary")
    )
    return jsonify(saved)


@api.post("/versions/<int:version_id>/submit")
@authenticated
def submit(version_id: int):
    return jsonify(versions.submit_version(deps(), current_actor(), version_id))


@api.post("/versions/<int:version_id>/approve")
@authenticated
def approve(version_id: int):
    body = optional_json_body()
    comment = _text(body, "comment") or ""
    expected = _text(body, "content_hash")
    return jsonify(versions.approve_version(deps(), current_actor(), version_id, comment, expected))


@api.post("/versions/<int:version_id>/reject")
@authenticated
def reject(version_id: int):
    comment = _text(json_body(), "comment", required=True) or ""
    return jsonify(versions.reject_version(deps(), current_actor(), version_id, comment))


@api.post("/versions/<int:version_id>/publish")
@authenticated
def publish(version_id: int):
    return jsonify(versions.publish_version(deps(), current_actor(), version_id))


@api.post("/versions/<int:version_id>/retire")
@authenticated
def retire(version_id: int):
    return jsonify(versions.retire_version(deps(), current_actor(), version_id))


@api.get("/versions/<int:version_id>/diff")
@authenticated
def diff(version_id: int):
    against = _optional_int(request.args.get("against"), "against")
    return jsonify(diff_versions(deps(), current_actor(), version_id, against))


@api.get("/procedures/<procedure>/versions/<int:number>/bpmn")
@authenticated
def version_bpmn(procedure: str, number: int):
    xml = versions.version_diagram(deps(), current_actor(), procedure, number)
    return Response(xml, mimetype="application/xml")


@api.post("/procedures/<procedure>/migration/dry-run")
@authenticated
def migration_dry_run(procedure: str):
    body = optional_json_body()
    target = _optional_int(body.get("target"), "target")
    return jsonify(migration.dry_run(deps(), current_actor(), procedure, target))


@api.post("/procedures/<procedure>/migration")
@authenticated
def migrate(procedure: str):
    body = json_body()
    target = _optional_int(body.get("target"), "target")
    cases = body.get("cases")
    if cases is not None and not (
        isinstance(cases, list) and all(isinstance(c, str) for c in cases)
    ):
        raise Invalid.field("cases", "a list of case ids is required")
    return jsonify(migration.migrate_cases(deps(), current_actor(), procedure, target, cases))


@api.post("/procedures/<procedure>/feedback")
@authenticated
def leave_feedback(procedure: str):
    body = json_body()
    given = feedback.leave_feedback(
        deps(),
        current_actor(),
        procedure,
        text=_text(body, "text", required=True) or "",
        step=optional_str(body, "step", 128),
        case_id=_text(body, "case_id"),
        task_id=_text(body, "task_id"),
    )
    return jsonify(given), 201


@api.get("/procedures/<procedure>/feedback")
@authenticated
def list_feedback(procedure: str):
    return jsonify({"feedback": feedback.list_feedback(deps(), current_actor(), procedure)})


@api.post("/procedures/<procedure>/reviews")
@authenticated
def start_review(procedure: str):
    return jsonify(review.start_review_by_hand(deps(), current_actor(), procedure)), 201


@api.get("/procedures/<procedure>/reviews")
@authenticated
def list_reviews(procedure: str):
    return jsonify({"reviews": review.list_reviews(deps(), current_actor(), procedure)})


_P = path_param("procedure")
_V = path_param("version_id")
_VERSION_ERRORS = (401, 403, 404, 409, 422)
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/procedures/{procedure}/versions": {
        "get": op("Every version of a procedure with who drafted, reviewed, published it")
        | {"parameters": _P},
        "post": op("A new draft copied from the published version (process owner)", ok=201)
        | {
            "parameters": _P,
            "requestBody": {"content": {"application/json": {"schema": obj(summary=STR)}}},
        },
    },
    "/api/v1/versions/{version_id}": {
        "get": op("A version with its diagram, forms and validation report") | {"parameters": _V},
        "put": op(
            "Replace a draft's diagram and forms; returns the validation report",
            body=obj(bpmn=STR, forms={"type": "object"}, summary=STR),
            errors=_VERSION_ERRORS,
        )
        | {"parameters": _V},
    },
    "/api/v1/versions/{version_id}/submit": {
        "post": op("Submit a valid draft for compliance review", errors=_VERSION_ERRORS)
        | {"parameters": _V}
    },
    "/api/v1/versions/{version_id}/approve": {
        "post": op(
            "Approve the exact content hash (compliance, never the author)", errors=_VERSION_ERRORS
        )
        | {"parameters": _V}
    },
    "/api/v1/versions/{version_id}/reject": {
        "post": op(
            "Reject with a comment (compliance)", body=obj(comment=STR), errors=_VERSION_ERRORS
        )
        | {"parameters": _V}
    },
    "/api/v1/versions/{version_id}/publish": {
        "post": op(
            "Publish the approved content; the previous version retires", errors=_VERSION_ERRORS
        )
        | {"parameters": _V}
    },
    "/api/v1/versions/{version_id}/retire": {
        "post": op("Retire a version", errors=_VERSION_ERRORS) | {"parameters": _V}
    },
    "/api/v1/versions/{version_id}/diff": {
        "get": op("Semantic diff against another version (default: the published one)")
        | {"parameters": _V}
    },
    "/api/v1/procedures/{procedure}/versions/{number}/bpmn": {
        "get": op("A version's diagram XML") | {"parameters": _P + path_param("number")}
    },
    "/api/v1/procedures/{procedure}/migration/dry-run": {
        "post": op("Which waiting cases can move to the published version, and why not")
        | {"parameters": _P}
    },
    "/api/v1/procedures/{procedure}/migration": {
        "post": op(
            "Move the waiting cases that can move, under the one-writer lock",
            errors=_VERSION_ERRORS,
        )
        | {"parameters": _P}
    },
    "/api/v1/procedures/{procedure}/feedback": {
        "post": op("Leave feedback on a procedure or one of its steps", body=obj(text=STR), ok=201)
        | {"parameters": _P},
        "get": op("Feedback on a procedure (process owner, compliance)") | {"parameters": _P},
    },
    "/api/v1/procedures/{procedure}/reviews": {
        "post": op("Start a periodic review of the procedure by hand", ok=201) | {"parameters": _P},
        "get": op("Periodic reviews of the procedure") | {"parameters": _P},
    },
}
