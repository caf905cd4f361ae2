"""The OpenAPI document for /api/v1, kept true by a test against the route table.

Each API module declares ``OPENAPI_PATHS`` next to its views, built with the
helpers here; `document` merges them.
"""

from __future__ import annotations

import importlib
from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def op(
    summary: str,
    *,
    auth: bool = True,
    body: dict | None = None,
    ok: int = 200,
    errors: tuple[int, ...] = (401, 403, 404, 422),
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {str(ok): {"description": "success"}}
        | {
            str(code): {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
            for code in errors
        },
    }
    if auth:
        operation["security"] = [{"bearer": []}]
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def path_param(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]


def obj(**props: dict) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": sorted(props)}


STR = {"type": "string"}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Datasteward API", "version": "1"},
        "paths": _all_paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": obj(error=obj(code=STR, message=STR, details={"type": "array"}))},
        },
    }


def _all_paths() -> dict[str, Any]:
    from service.api import API_MODULES

    paths: dict[str, Any] = {}
    for name in API_MODULES:
        for path, methods in importlib.import_module(name).OPENAPI_PATHS.items():
            paths.setdefault(path, {}).update(methods)
    return dict(sorted(paths.items()))
