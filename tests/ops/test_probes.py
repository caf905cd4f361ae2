"""/healthz says the process is up; /readyz says whether it can serve."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import text


def test_healthz_answers_while_the_process_is_up(client):
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.get_json() == {"status": "ok"}


def test_readyz_is_ready_when_databases_broker_and_schema_are_in_order(client):
    reply = client.get("/readyz")
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "keystore": "ok", "broker": "ok", "migrations": "ok"},
    }


def test_readyz_is_not_ready_when_the_schema_is_behind(client, deps):
    with deps.db.engine.begin() as conn:
        heads = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0001')"))
    try:
        reply = client.get("/readyz")
    finally:  # the PostgreSQL databases are shared by the whole run
        with deps.db.engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            for head in heads:
                conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    assert reply.status_code == 503
    assert reply.get_json()["checks"]["migrations"].startswith("schema does not match")
    assert reply.get_json()["checks"]["database"] == "ok"


def test_readyz_names_an_unreachable_broker_without_its_address(client, deps):
    deps.settings = replace(deps.settings, broker_url="redis://:hunter2@127.0.0.1:1/0")
    reply = client.get("/readyz")
    assert reply.status_code == 503
    body = reply.get_json()
    assert body["checks"]["broker"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"
    assert "hunter2" not in reply.get_data(as_text=True)
    assert "127.0.0.1" not in reply.get_data(as_text=True)


def test_probes_need_no_login_and_are_not_in_the_api_document(client, app):
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/healthz", "/readyz", "/metrics"} <= rules
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert not {"/healthz", "/readyz", "/metrics"} & set(paths)
