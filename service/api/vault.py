"""Vault endpoints: proof documents and subject lookup through the blind index."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from service.api.auth import authenticated, current_actor, deps
from service.api.openapi import STR, obj, op, path_param
from service.api.request import json_body
from service.errors import Invalid
from service.vault import proofs

blueprint = Blueprint("vault", __name__, url_prefix="/api/v1")


@blueprint.post("/cases/<case_id>/documents")
@authenticated
def upload_document(case_id: str):
    upload = request.files.get("file")
    if upload is None:
        raise Invalid.field("file", "send the document as multipart/form-data field 'file'")
    # Read one byte past the limit: enough to tell "too large" without reading everything.
    with upload.stream as stream:
        data = stream.read(deps().settings.max_document_bytes + 1)
    result = proofs.upload_document(deps(), current_actor(), case_id, upload.filename or "", data)
    return jsonify(result), 201


@blueprint.get("/documents/<document_id>")
@authenticated
def download_document(document_id: str):
    media_type, data = proofs.download_document(deps(), current_actor(), document_id)
    return Response(data, mimetype=media_type, headers={"Cache-Control": "no-store"})


@blueprint.post("/subjects/lookup")
@authenticated
def lookup_subject():
    # POST, not GET: an ID number in a query string would land in access logs.
    return jsonify(proofs.lookup_subject(deps(), current_actor(), json_body()))


_MULTIPART = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": obj(file={"type": "string", "format": "binary"}),
        }
    },
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/cases/{case_id}/documents": {
        "post": op(
            "Attach a proof document (PDF, JPEG or PNG) to a running case; held under the "
            "case's key until the case knows its subject",
            ok=201,
            errors=(401, 403, 404, 409, 413, 422),
        )
        | {"parameters": path_param("case_id"), "requestBody": _MULTIPART}
    },
    "/api/v1/documents/{document_id}": {
        "get": op("Download a proof document (reviewers of its case only)", errors=(401, 403, 404))
        | {"parameters": path_param("document_id")}
    },
    "/api/v1/subjects/lookup": {
        "post": op(
            "Find a subject by ID number or mobile (duplicate check); audited",
            body={
                "type": "object",
                "properties": {"id_type": STR, "id_number": STR, "mobile": STR},
            },
            errors=(401, 403, 422),
        )
    },
}
