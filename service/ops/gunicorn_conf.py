"""gunicorn settings for the web service: ``gunicorn -c python:service.ops.gunicorn_conf``.

Shipped inside the package so that ``datasteward serve`` works from an
installed wheel; ``deploy/gunicorn.conf.py`` re-exports it for operators who
want to override a value. The address comes from ``DATASTEWARD_HOST`` and
``DATASTEWARD_PORT``, the number of workers from gunicorn's own
``WEB_CONCURRENCY``.

The metrics directory is chosen here, in the master, before any worker
imports the metrics library, and emptied at start so figures from an earlier
run are not summed in.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from service.config import Settings
from service.ops.logging import gunicorn_logconfig

_settings = Settings.from_env()

os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(_settings.var_dir).resolve() / "prometheus-web")
)

bind = [f"{_settings.host}:{_settings.port}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
# A request waiting on a locked case row is still short; anything longer is stuck.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never becomes an outage.
max_requests = 5000
max_requests_jitter = 500
# Each request is logged once, as JSON, by the app itself (service.ops).
accesslog = None
errorlog = "-"
logconfig_dict = gunicorn_logconfig()
proc_name = "datasteward-web"


def on_starting(_server: Any) -> None:
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)


def child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
