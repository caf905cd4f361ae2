"""Endpoints of the request procedures: withdrawal, deadline extension, grants."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from service.api.auth import current_actor, deps
from service.api.openapi import STR, obj, op, path_param
from service.api.request import aware_datetime, json_body, optional_json_body, required_str
from service.cases import lifecycle
from service.errors import Invalid
from service.vault import grants

blueprint = Blueprint("requests", __name__, url_prefix="/api/v1")


@blueprint.post("/cases/<case_id>/withdraw")
def withdraw(case_id: str):
    reason = required_str(json_body(), "reason", 500)
    return jsonify(lifecycle.withdraw_case(deps(), current_actor(), case_id, reason))


@blueprint.post("/cases/<case_id>/extend")
def extend(case_id: str):
    body = json_body()
    new_due = aware_datetime(body, "due_at")
    reason = required_str(body, "reason", 500)
    return jsonify(lifecycle.extend_deadline(deps(), current_actor(), case_id, new_due, reason))


@blueprint.get("/grants")
def list_grants():
    return jsonify({"grants": grants.list_grants(deps(), current_actor())})


@blueprint.get("/grants/<grant_id>")
def show_grant(grant_id: str):
    return jsonify(grants.show_grant(deps(), current_actor(), grant_id))


@blueprint.get("/grants/<grant_id>/record")
def grant_record(grant_id: str):
    return jsonify(grants.processing_record(deps(), current_actor(), grant_id))


@blueprint.post("/grants/<grant_id>/read")
def read_grant(grant_id: str):
    fields = optional_json_body().get("fields")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
    ):
        raise Invalid.field("fields", "must be a list of field names")
    if fields == []:
        raise Invalid.field("fields", "name at least one field, or leave fields out for all")
    return jsonify(grants.read_through_grant(deps(), current_actor(), grant_id, fields))


_GRANT = path_param("grant_id")
_CASE = path_param("case_id")
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/cases/{case_id}/withdraw": {
        "post": op(
            "Withdraw a request before its review starts (requester only)",
            body=obj(reason=STR),
            errors=(401, 403, 404, 409, 422),
        ),
        "parameters": _CASE,
    },
    "/api/v1/cases/{case_id}/extend": {
        "post": op(
            "Extend a request's due date with a reason, within the hard ceiling",
            body=obj(due_at=STR, reason=STR),
            errors=(401, 403, 404, 409, 422),
        ),
        "parameters": _CASE,
    },
    "/api/v1/grants": {"get": op("My grants from approved query requests", errors=(401,))},
    "/api/v1/grants/{grant_id}": {
        "get": op("A grant's terms with the values masked", errors=(401, 404)),
        "parameters": _GRANT,
    },
    "/api/v1/grants/{grant_id}/record": {
        "get": op(
            "With a grant of the customer's own access request: the record of the processing "
            "of their data (consents, cases, who was given access to what, and why)",
            errors=(401, 403, 404),
        ),
        "parameters": _GRANT,
    },
    "/api/v1/grants/{grant_id}/read": {
        "post": op(
            "Read the granted values in clear (one view; a query-log entry)", errors=(401, 403, 422)
        ),
        "parameters": _GRANT,
    },
}
