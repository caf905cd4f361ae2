"""The OpenAPI document for /api/v1, kept true by a test against the route table."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, *, auth: bool = True, body: dict | None = None, ok: int = 200,
        errors: tuple[int, ...] = (401, 403, 404, 422)) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {str(ok): {"description": "success"}} | {
            str(code): {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
            for code in errors
        },
    }
    if auth:
        operation["security"] = [{"bearer": []}]
    if body:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": body}}}
    return operation


def _path_param(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]


def _obj(**props: dict) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": sorted(props)}


STR = {"type": "string"}

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/auth/login": {"post": _op("Log in with username and password; returns a bearer token",
                                        auth=False, body=_obj(username=STR, password=STR),
                                        errors=(401, 422))},
    "/api/v1/auth/logout": {"post": _op("Revoke the calling token", ok=204, errors=(401,))},
    "/api/v1/me": {"get": _op("The calling user and roles", errors=(401,))},
    "/api/v1/procedures": {"get": _op("Procedures with a published version", errors=(401,))},
    "/api/v1/cases": {"post": _op("Start a case of a procedure", body=_obj(procedure=STR), ok=201)},
    "/api/v1/cases/{case_id}": {"get": _op("A case: status, open tasks, history") |
                                {"parameters": _path_param("case_id")}},
    "/api/v1/tasks": {"get": _op("Task list (scope=mine|claimable|all, procedure, limit, offset)")},
    "/api/v1/tasks/{task_id}": {"get": _op("A task with its form schema and case values") |
                                {"parameters": _path_param("task_id")}},
    "/api/v1/tasks/{task_id}/claim": {"post": _op("Claim a task", errors=(401, 403, 404, 409)) |
                                      {"parameters": _path_param("task_id")}},
    "/api/v1/tasks/{task_id}/unclaim": {"post": _op("Release a claimed task",
                                                    errors=(401, 404, 409)) |
                                        {"parameters": _path_param("task_id")}},
    "/api/v1/tasks/{task_id}/complete": {"post": _op(
        "Complete a task with its form data", body=_obj(data={"type": "object"}),
        errors=(401, 403, 404, 409, 422)) | {"parameters": _path_param("task_id")}},
    "/api/v1/openapi.json": {"get": _op("This document", auth=False, errors=())},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Datasteward API", "version": "1"},
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _obj(error=_obj(code=STR, message=STR,
                                                 details={"type": "array"}))},
        },
    }
