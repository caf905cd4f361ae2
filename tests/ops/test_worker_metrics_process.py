"""A worker started the way the container image starts it serves its job metrics.

The image sets PROMETHEUS_MULTIPROC_DIR to a folder under /tmp, which is a fresh,
empty tmpfs (compose) or emptyDir (Kubernetes) in every container: the worker
has to create it, or its metrics server refuses to start and the worker dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, ROOT, need_service
from tests.ops.conftest import metric_value

pytestmark = [pytest.mark.redis, pytest.mark.slow]
JOB = "datasteward.timers.fire_due"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _metrics(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as reply:  # noqa: S310 - loopback
            return reply.read().decode()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None


def _wait(check, what: str, process: subprocess.Popen, log: Path, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the worker died:\n{log.read_text()[-3000:]}"
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not seen in {timeout}s:\n{log.read_text()[-3000:]}")


def test_a_worker_creates_its_metrics_folder_and_counts_jobs_there(tmp_path):
    need_service("redis")
    import redis
    from celery import Celery

    from service.ops.queues import queue_for

    redis.Redis.from_url(REDIS_URL).flushdb()
    metrics_dir = tmp_path / "fresh-tmp" / "metrics"  # does not exist, as in a new container
    port, log = _free_port(), tmp_path / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASTEWARD_")}
    env |= {
        "DATASTEWARD_VAR_DIR": str(tmp_path / "var"),
        "DATASTEWARD_BROKER_URL": REDIS_URL,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONPATH": str(ROOT),
    }
    command = [str(Path(sys.executable).parent / "celery"), "-A", "workers.celery_app"]
    command += ["worker", "-Q", "timers", "--concurrency", "1", "--metrics-port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(lambda: _metrics(port) is not None, "/metrics", process, log)
        assert metrics_dir.is_dir()
        Celery(broker=REDIS_URL).send_task(JOB, queue=queue_for(JOB))

        def counted() -> bool:
            text = _metrics(port) or ""
            return metric_value(text, "datasteward_jobs_total", task=JOB) >= 1

        # The job ran in a pool process; its figure reached /metrics through the folder.
        _wait(counted, f"{JOB} in datasteward_jobs_total", process, log)
        assert any(metrics_dir.iterdir())
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        redis.Redis.from_url(REDIS_URL).flushdb()
