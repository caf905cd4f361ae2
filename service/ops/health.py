"""Probes and metrics for operators: /healthz, /readyz and /metrics.

``/healthz`` answers as long as the process can serve a request (a liveness
probe: restart me if this fails). ``/readyz`` answers 200 only when the data
database, the key store and the broker are reachable and the schema is the one
this code needs (a readiness probe: send me no traffic while this fails).
Neither says more than which check failed: no URL, host or credential.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import Engine, text

from service.deps import Deps

blueprint = Blueprint("ops", __name__)
log = logging.getLogger("datasteward.ops")

BROKER_TIMEOUT_S = 2.0


def _deps() -> Deps:
    return current_app.extensions["datasteward"]


@blueprint.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz():
    checks = readiness(_deps())
    ready = all(result == "ok" for result in checks.values())
    status = "ready" if ready else "not_ready"
    return jsonify({"status": status, "checks": checks}), 200 if ready else 503


@blueprint.get("/metrics")
def metrics():
    from service.ops.metrics import CONTENT_TYPE_LATEST, exposition

    return Response(exposition(_deps()), mimetype=CONTENT_TYPE_LATEST.split(";")[0])


def readiness(deps: Deps) -> dict[str, str]:
    """Each check's result: ``ok`` or a short reason naming no address or secret."""
    checks: dict[str, Callable[[], str]] = {
        "database": lambda: _ping(deps.db.engine),
        "keystore": lambda: _ping(deps.db.keystore_engine),
        "broker": lambda: check_broker(deps.settings.broker_url),
        "migrations": lambda: check_migrations(deps),
    }
    return {name: _run(name, check) for name, check in checks.items()}


def _run(name: str, check: Callable[[], str]) -> str:
    try:
        return check()
    except Exception as error:  # noqa: BLE001 - a probe reports, it never raises
        log.warning("readiness check failed", extra={"check": name})
        return f"unreachable ({type(error).__name__})"


def _ping(engine: Engine) -> str:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return "ok"


def check_broker(broker_url: str) -> str:
    from kombu import Connection

    with Connection(broker_url, connect_timeout=BROKER_TIMEOUT_S) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_S)
    return "ok"


def check_migrations(deps: Deps) -> str:
    from service.bootstrap import NotMigrated, check_migrated

    try:
        check_migrated(deps.db)
    except NotMigrated:
        return "schema does not match this code (run `datasteward migrate`)"
    return "ok"
