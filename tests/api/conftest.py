"""An API client per user: `api("reviewer").post(...)` logs in once and sends the token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import PASSWORD

VALID_FORM = {
    "name": "张三丰",
    "id_type": "resident_id",
    "id_number": "11010519491231002X",
    "mobile": "13812345678",
    "address": "北京市朝阳区建国路88号",
}
CONSENT = {
    "purpose": "service_contract",
    "consent_text_version": "v3.1",
    "consent_given": True,
    "sensitive_consent_given": True,
}


@dataclass
class Response:
    status: int
    body: Any


class UserClient:
    def __init__(self, client: Any, username: str) -> None:
        self.client = client
        self.username = username
        reply = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert reply.status_code == 200, reply.get_json()
        self.headers = {"Authorization": f"Bearer {reply.get_json()['token']}"}

    def get(self, path: str) -> Response:
        reply = self.client.get(path, headers=self.headers)
        return Response(reply.status_code, reply.get_json())

    def post(self, path: str, json: Any = None) -> Response:
        reply = self.client.post(path, json=json, headers=self.headers)
        return Response(reply.status_code, reply.get_json(silent=True))

    # The procedure's steps, as a person at the counter or the review desk does them.
    def start(self, procedure: str = "collection") -> dict[str, Any]:
        reply = self.post("/api/v1/cases", {"procedure": procedure})
        assert reply.status == 201, reply.body
        return reply.body

    def task_of(self, case_id: str, name: str) -> str:
        case = self.get(f"/api/v1/cases/{case_id}")
        assert case.status == 200, case.body
        ids = [t["id"] for t in case.body["tasks"] if t["name"] == name]
        assert ids, f"no open {name} task in {case.body['tasks']}"
        return ids[0]

    def complete(self, task_id: str, data: dict[str, Any]) -> Response:
        return self.post(f"/api/v1/tasks/{task_id}/complete", {"data": data})


@pytest.fixture
def api(client):
    cache: dict[str, UserClient] = {}

    def as_user(username: str) -> UserClient:
        if username not in cache:
            cache[username] = UserClient(client, username)
        return cache[username]

    return as_user


@pytest.fixture
def collected(api):
    """A collection case whose form is filled in, waiting for review."""
    desk = api("frontdesk")
    case = desk.start()
    assert desk.complete(desk.task_of(case["id"], "record_consent"), CONSENT).status == 200
    reply = desk.complete(desk.task_of(case["id"], "fill_form"), VALID_FORM)
    assert reply.status == 200, reply.body
    return reply.body
