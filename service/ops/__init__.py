"""What operators need: probes, metrics, structured logs, configuration checks.

`init_app` is the one call the web app makes. Nothing here imports the metrics
library at import time: gunicorn's configuration imports this package in the
master before it chooses the metrics directory the workers will share.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, g, request

request_log = logging.getLogger("datasteward.request")


def init_app(app: Flask) -> None:
    """Register the probes and /metrics, and time and log every request."""
    from service.ops import metrics
    from service.ops.health import blueprint

    metrics.install_commit_counters()
    app.register_blueprint(blueprint)
    _declare_public(blueprint.name, ("healthz", "readyz", "metrics"))
    app.before_request(_start_timer)
    app.after_request(_finish_request)


def _declare_public(blueprint_name: str, views: tuple[str, ...]) -> None:
    """Probes and the scrape take no login (they carry no personal data).

    The access gate refuses any endpoint without a rule; keep these rules next
    to the probes so they cannot drift apart (setdefault: an explicit rule wins).
    """
    from service.access.permissions import ENDPOINT_PERMISSIONS, PUBLIC

    for view in views:
        ENDPOINT_PERMISSIONS.setdefault(f"{blueprint_name}.{view}", PUBLIC)


def _start_timer() -> None:
    g.ops_started = time.perf_counter()


def _finish_request(response: Any) -> Any:
    from service.ops.metrics import observe_request

    started = getattr(g, "ops_started", None)
    seconds = time.perf_counter() - started if started is not None else 0.0
    # The route template, not the path: bounded label values and no identifiers.
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    observe_request(request.method, route, response.status_code, seconds)
    response.headers.setdefault("X-Request-Id", getattr(g, "request_id", ""))
    if route not in QUIET_ROUTES:
        actor = getattr(g, "actor", None)
        request_log.info(
            "request",
            extra={
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
                "actor_id": getattr(actor, "id", None),
            },
        )
    return response


# Probes and scrapes arrive every few seconds; logging them would drown the rest.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
