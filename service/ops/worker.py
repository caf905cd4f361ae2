"""Celery-side operations: job metrics, JSON logs and a metrics endpoint per worker.

`instrument(app)` is the one call the Celery app makes. A worker started with
``--metrics-port`` serves its jobs' metrics over HTTP; with a prefork pool set
``PROMETHEUS_MULTIPROC_DIR`` (to a directory of its own) so the pool processes'
figures are summed.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery, bootsteps, signals
from click import Option

from service.ops.logging import configure_logging
from service.ops.queues import queue_for

log = logging.getLogger("datasteward.worker")
_started: dict[str, float] = {}


def instrument(app: Celery) -> None:
    """Connect job metrics and JSON logging, and add the ``--metrics-port`` worker option."""
    # dispatch_uid: building a second app in the same process must not count twice.
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="ds-ops-prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="ds-ops-postrun")
    signals.setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid="ds-ops-logging")
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="ds-ops-init")
    app.user_options["worker"].add(
        Option(("--metrics-port",), type=int, default=None, help="serve job metrics on this port")
    )
    app.user_options["worker"].add(
        Option(("--metrics-host",), default="127.0.0.1", help="address for --metrics-port")
    )
    app.steps["worker"].add(MetricsServer)


def _on_worker_init(**_: Any) -> None:
    from service.ops.metrics import install_commit_counters, multiprocess_dir

    # The pool processes write their figures there; a container's fresh /tmp lacks it,
    # and the metrics server refuses to start without it. (In the main process, before
    # the pool forks and before the metrics server starts.)
    directory = multiprocess_dir()
    if directory:
        os.makedirs(directory, exist_ok=True)
    # Cases a job finishes (timers, deletions) count like those finished over HTTP.
    install_commit_counters()


def _on_setup_logging(loglevel: Any = None, **_: Any) -> None:
    configure_logging(loglevel or "INFO")


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


def _on_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    from service.ops.metrics import observe_job

    started = _started.pop(task_id or "", None)
    seconds = time.perf_counter() - started if started is not None else None
    name = getattr(task, "name", None) or "unknown"
    queue = _queue_of(task) or queue_for(name)
    outcome = (state or "unknown").lower()
    observe_job(name, queue, outcome, seconds)
    log.info(
        "job finished",
        extra={"task_name": name, "job_id": task_id, "queue": queue, "outcome": outcome},
    )


def _queue_of(task: Any) -> str | None:
    delivery = getattr(getattr(task, "request", None), "delivery_info", None) or {}
    return delivery.get("routing_key") or None


class MetricsServer(bootsteps.StartStopStep):
    """Serves this worker's job metrics when ``--metrics-port`` is given."""

    def __init__(self, worker: Any, metrics_port: int | None = None, **options: Any) -> None:
        self.port = metrics_port
        self.host = options.get("metrics_host") or "127.0.0.1"
        self.server: Any = None
        super().__init__(worker, **options)

    def start(self, worker: Any) -> None:
        if not self.port:
            return
        from prometheus_client import start_http_server

        from service.ops.metrics import process_registry

        self.server, _thread = start_http_server(
            self.port, addr=self.host, registry=process_registry()
        )
        log.info("serving job metrics on %s:%d", self.host, self.port)

    def stop(self, worker: Any) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None
