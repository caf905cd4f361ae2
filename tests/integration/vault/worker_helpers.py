"""A real Celery worker subprocess on real Redis, configured through the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis
from sqlalchemy import select

from service.config import Settings
from service.deps import Deps
from service.jobs import celery_publisher
from service.vault.models import DeletionRequest
from tests.conftest import REDIS_URL, ROOT


def worker_env(settings: Settings, crash_at: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATASTEWARD_ENV="test",
        DATASTEWARD_VAR_DIR=settings.var_dir,
        DATASTEWARD_DATABASE_URL=settings.database_url,
        DATASTEWARD_KEYSTORE_URL=settings.keystore_url,
        DATASTEWARD_KEYRING_FILE=settings.keyring_file,
        DATASTEWARD_BLIND_INDEX_KEY_FILE=settings.blind_index_key_file,
        DATASTEWARD_SIGNING_KEY_FILE=settings.signing_key_file,
        DATASTEWARD_DOCUMENT_STORE_DIR=settings.document_store_dir,
        DATASTEWARD_PROCESSES_DIR=settings.processes_dir,
        DATASTEWARD_BROKER_URL=REDIS_URL,
        DATASTEWARD_REDIS_URL=REDIS_URL,
        DATASTEWARD_BROKER_VISIBILITY_TIMEOUT_S="2",
        DATASTEWARD_TEST_CRASH_AT=crash_at,
    )
    return env


class Worker:
    """`celery worker --pool solo`: killing the task kills the whole worker process."""

    def __init__(self, settings: Settings, log_path: Path, crash_at: str = "") -> None:
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery_app",
                "worker",
                "--pool",
                "solo",
                "--concurrency",
                "1",
                "-Q",
                "celery,deletion",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=worker_env(settings, crash_at),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_killed(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def flush_broker() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


def publish_jobs(deps: Deps) -> None:
    """Hand the jobs the use cases wrote to the real broker (the outbox's publisher)."""
    publish = celery_publisher(REDIS_URL)
    for job_id, name, kwargs in deps.extras["published"]:
        publish(job_id, name, kwargs)


def wait_for_state(
    deps: Deps, request_id: str, state: str, worker: Worker, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    current = None
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.process.returncode}")
        with deps.unit_of_work() as uow:
            current = uow.session.scalar(
                select(DeletionRequest.state).where(DeletionRequest.id == request_id)
            )
        if current == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"deletion request stayed {current!r}, expected {state!r}")
