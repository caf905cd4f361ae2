"""Starting a real Celery worker (with beat) as a separate process for a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.config import Settings
from tests.conftest import REDIS_URL, ROOT, need_service


def worker_environment(settings: Settings, broker_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASTEWARD_")}
    env.update(
        DATASTEWARD_ENV="test",
        DATASTEWARD_VAR_DIR=settings.var_dir,
        DATASTEWARD_DATABASE_URL=settings.database_url,
        DATASTEWARD_KEYSTORE_URL=settings.keystore_url,
        DATASTEWARD_BROKER_URL=broker_url,
        DATASTEWARD_PROCESSES_DIR=settings.processes_dir,
        DATASTEWARD_TIMER_INTERVAL_S="1",
        DATASTEWARD_OUTBOX_INTERVAL_S="1",
        **extra,
    )
    return env


@pytest.fixture(params=["embedded", "redis"])
def broker_url(request: pytest.FixtureRequest, settings: Settings) -> str:
    if request.param == "embedded":
        return f"sqla+sqlite:///{Path(settings.var_dir) / 'broker.sqlite'}"
    need_service("redis")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    started: list[subprocess.Popen] = []

    def start(broker: str, *, beat: bool = True, **extra: str) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            command += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
        with open(tmp_path / f"worker-{len(started)}.log", "w") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=worker_environment(settings, broker, **extra),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False
