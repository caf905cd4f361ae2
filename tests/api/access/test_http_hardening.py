"""Security headers, CORS off, request size limit and JSON errors without internals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import PASSWORD


def test_every_response_carries_the_security_headers(client):
    reply = client.get("/api/v1/openapi.json")
    csp = reply.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in reply.headers


@pytest.mark.parametrize("backend", ["sqlite"])
def test_production_adds_hsts_and_secure_cookies(deps, users):
    from service.app import create_app

    deps.settings = replace(deps.settings, env="production", secret_key="s" * 40)
    app = create_app(deps.settings, deps)
    client = app.test_client()
    reply = client.post("/api/v1/auth/session", json={"username": "reviewer", "password": PASSWORD})
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Secure" in reply.headers["Set-Cookie"]


def test_cors_is_off_and_cross_origin_writes_are_refused(client):
    reply = client.post(
        "/api/v1/auth/login",
        json={"username": "reviewer", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert reply.status_code == 403
    assert "cross-origin" in reply.get_json()["error"]["message"]
    assert "Access-Control-Allow-Origin" not in reply.headers
    same = client.post(
        "/api/v1/auth/login",
        json={"username": "reviewer", "password": PASSWORD},
        headers={"Origin": "http://localhost"},
    )
    assert same.status_code == 200


def test_the_tab_icon_is_served_to_anyone(client):
    reply = client.get("/favicon.ico")
    assert reply.status_code == 200 and reply.mimetype == "image/svg+xml"
    assert reply.data.startswith(b"<svg")


def test_a_too_large_request_gets_a_413_json_error(app, client):
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    reply = client.post(
        "/api/v1/auth/login", data=b"x" * size, headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 413
    assert reply.get_json()["error"]["code"] == "request_entity_too_large"
    assert str(size - 1) in reply.get_json()["error"]["message"]  # the limit, in bytes


def test_errors_are_json_and_leak_no_internals(client):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    bad = client.post("/api/v1/auth/login", data="{", headers={"Content-Type": "application/json"})
    body = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "Traceback" not in body and "sqlalchemy" not in body
