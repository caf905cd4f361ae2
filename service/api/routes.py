"""JSON endpoints under /api/v1. Each view parses, calls one use case, returns JSON."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request, session

from service.access.login import log_in, log_out
from service.api.auth import (
    anonymous_actor,
    authenticated,
    bearer_token,
    current_actor,
    deps,
)
from service.api.openapi import STR, obj, op, path_param
from service.api.request import choice_arg, int_arg, json_body, optional_str, required_str
from service.cases import queries
from service.cases import service as cases
from service.errors import Invalid

blueprint = api = Blueprint("api", __name__, url_prefix="/api/v1")


@api.post("/auth/login")
def login():
    return jsonify(log_in_from(json_body())), 200


def log_in_from(body: dict[str, Any]) -> dict[str, Any]:
    """The login use case for a request body (API token or browser session alike)."""
    return log_in(
        deps(),
        anonymous_actor(),
        required_str(body, "username", 64),
        required_str(body, "password", 256),
        _optional_code(body.get("totp")),
    )


def _optional_code(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 10:
        raise Invalid.field("totp", "must be the digits your authenticator shows")
    return value


@api.post("/auth/logout")
@authenticated
def logout():
    token = bearer_token() or str(session.get("api_token", ""))
    log_out(deps(), current_actor(), token)
    session.clear()
    return "", 204


@api.get("/me")
@authenticated
def me():
    actor = current_actor()
    return jsonify({"id": actor.id, "username": actor.username, "roles": sorted(actor.roles)})


@api.get("/procedures")
@authenticated
def procedures():
    return jsonify({"procedures": queries.procedures_to_start(deps(), current_actor())})


@api.post("/cases")
@authenticated
def start_case():
    procedure = required_str(json_body(), "procedure", 64)
    return jsonify(cases.start_case(deps(), current_actor(), procedure)), 201


@api.get("/cases")
@authenticated
def find_cases():
    reference = request.args.get("reference")
    mine = choice_arg("mine", "false", ("true", "false")) == "true"
    if reference is None and not mine:
        raise Invalid.field("reference", "give a case's reference, or mine=true")
    limit = int_arg("limit", 50, 1, 200)
    found = queries.find_cases(
        deps(),
        current_actor(),
        reference=reference and reference.strip().lower(),
        mine=mine,
        limit=limit,
    )
    return jsonify({"cases": found})


@api.get("/cases/<case_id>")
@authenticated
def show_case(case_id: str):
    return jsonify(queries.show_case(deps(), current_actor(), case_id))


_TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@api.get("/tasks")
@authenticated
def list_tasks():
    scope = choice_arg("scope", "all", ("mine", "claimable", "all", "held"))
    procedure = request.args.get("procedure") or None
    limit, offset = int_arg("limit", 50, 1, 500), int_arg("offset", 0, 0, 10**9)
    after = request.args.get("after")
    if after is not None:
        if not _TASK_ID.fullmatch(after):
            raise Invalid.field("after", "a task id (a lower-case UUID) is required")
        if offset:
            raise Invalid.field("after", "page by after or by offset, not both")
    tasks = queries.task_list(deps(), current_actor(), scope, procedure, limit, offset, after)
    # A full page may have more after it: the client asks for them with ?after=.
    next_after = tasks[-1]["id"] if len(tasks) == limit else None
    return jsonify({"tasks": tasks, "next_after": next_after})


@api.get("/tasks/<task_id>")
@authenticated
def show_task(task_id: str):
    return jsonify(queries.show_task(deps(), current_actor(), task_id))


@api.post("/tasks/<task_id>/claim")
@authenticated
def claim(task_id: str):
    return jsonify(cases.claim_task(deps(), current_actor(), task_id))


@api.post("/tasks/<task_id>/unclaim")
@authenticated
def unclaim(task_id: str):
    # A supervisor releasing someone else's claim says why: {"reason": "..."}.
    reason = optional_str(json_body(), "reason", 500) if request.get_data() else None
    return jsonify(cases.unclaim_task(deps(), current_actor(), task_id, reason))


@api.post("/tasks/<task_id>/complete")
@authenticated
def complete(task_id: str):
    body = json_body()
    data = body.get("data")
    if not isinstance(data, dict):
        raise Invalid(
            "data must be an object holding the form's fields",
            details=[{"field": "data", "reason": "a JSON object is required"}],
        )
    return jsonify(cases.complete_task(deps(), current_actor(), task_id, data))


@api.get("/openapi.json")
def openapi():
    from service.api.openapi import document

    return jsonify(document())


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/auth/login": {
        "post": op(
            "Log in with username and password; returns a bearer token",
            auth=False,
            body=obj(username=STR, password=STR),
            errors=(401, 422),
        )
    },
    "/api/v1/auth/logout": {"post": op("Revoke the calling token", ok=204, errors=(401,))},
    "/api/v1/me": {"get": op("The calling user and roles", errors=(401,))},
    "/api/v1/procedures": {"get": op("Procedures with a published version", errors=(401,))},
    "/api/v1/cases": {
        "post": op("Start a case of a procedure", body=obj(procedure=STR), ok=201),
        "get": op(
            "Find cases: by reference (a case id's first eight characters, as customers quote "
            "it) or the ones I started (mine=true), newest first, only those I may see",
            errors=(401, 403, 422),
        ),
    },
    "/api/v1/cases/{case_id}": {
        "get": op("A case: status, open tasks, customer notifications, history")
        | {"parameters": path_param("case_id")}
    },
    "/api/v1/tasks": {
        "get": op(
            "Task list (scope=mine|claimable|all, or held: for a supervisor, the tasks staff "
            "in their scope hold, with who and since when; procedure, limit; the next page: "
            "after=the response's next_after, or offset)",
            errors=(401, 403, 422),
        )
    },
    "/api/v1/tasks/{task_id}": {
        "get": op("A task with its form schema and case values")
        | {"parameters": path_param("task_id")}
    },
    "/api/v1/tasks/{task_id}/claim": {
        "post": op("Claim a task", errors=(401, 403, 404, 409))
        | {"parameters": path_param("task_id")}
    },
    "/api/v1/tasks/{task_id}/unclaim": {
        "post": op(
            "Release a claimed task: your own, or (supervisors, with a reason) one someone "
            "else holds",
            errors=(401, 403, 404, 409, 422),
        )
        | {
            "parameters": path_param("task_id"),
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"reason": {"type": "string"}}}
                    }
                },
            },
        }
    },
    "/api/v1/tasks/{task_id}/complete": {
        "post": op(
            "Complete a task with its form data",
            body=obj(data={"type": "object"}),
            errors=(401, 403, 404, 409, 422),
        )
        | {"parameters": path_param("task_id")}
    },
    "/api/v1/openapi.json": {"get": op("This document", auth=False, errors=())},
}
