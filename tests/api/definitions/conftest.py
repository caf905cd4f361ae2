"""Helpers for the versions API: a PUT with the user's token, and a draft of the collection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Response

ROOT = Path(__file__).resolve().parents[3]
COLLECTION_BPMN = (ROOT / "processes" / "collection" / "collection.bpmn").read_text(
    encoding="utf-8"
)


def put(user: Any, path: str, body: Any) -> Response:
    reply = user.client.put(path, json=body, headers=user.headers)
    return Response(reply.status_code, reply.get_json(silent=True))


@pytest.fixture
def draft(api) -> dict[str, Any]:
    """A fresh draft of the collection procedure, authored by `owner`."""
    reply = api("owner").post("/api/v1/procedures/collection/versions", {"summary": "tighten"})
    assert reply.status == 201, reply.body
    return reply.body
