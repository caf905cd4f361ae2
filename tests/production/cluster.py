"""A production-shaped deployment on this machine, without containers.

Fresh PostgreSQL databases (data and key store), the test run's Redis database,
gunicorn API processes, Celery workers on split queues and one beat, each a
separate process group configured only by environment variables, so that a
test can kill one with SIGKILL exactly as a crashed machine would.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from service.db import with_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# A killed worker's unacknowledged jobs come back after this long (production: an hour,
# longer than any job). Short here so the test sees the redelivery; still far longer
# than any job of this run takes, so a live worker's job is not handed out twice.
VISIBILITY_TIMEOUT_S = 8


def redis_url(test_redis_url: str) -> str:
    """The Redis database the deployment uses: the test run's own (DATASTEWARD_TEST_REDIS_URL).

    The job queues and the rate limits all live in that one database;
    the test flushes it before the cluster starts, as the other Redis tests do.
    """
    return test_redis_url


def strong_secret() -> str:
    """A generated secret that `check-config` accepts.

    The check refuses any secret containing a word such as "dev" or "test", so a
    random token is refused now and then (about 1 in 500); an operator would
    simply generate another one.
    """
    from service.ops.checkconfig import secret_weakness

    while True:
        secret = secrets.token_urlsafe(48)
        if secret_weakness(secret) is None:
            return secret


class Databases:
    """A fresh data database and key store database on the test server."""

    def __init__(self, admin_url: str) -> None:
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        run = f"ds_prod_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.names = (run, f"{run}_keys")
        self.data_url, self.keystore_url = (with_database(admin_url, n) for n in self.names)

    def create(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


class Cluster:
    """The processes of one deployment, started and stopped by the test."""

    def __init__(self, workdir: Path, databases: Databases, redis: str) -> None:
        self.workdir = workdir
        self.databases = databases
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DATASTEWARD_")},
            "DATASTEWARD_ENV": "production",
            "DATASTEWARD_VAR_DIR": str(workdir / "var"),
            "DATASTEWARD_DATABASE_URL": databases.data_url,
            "DATASTEWARD_KEYSTORE_URL": databases.keystore_url,
            "DATASTEWARD_REDIS_URL": redis,
            "DATASTEWARD_BROKER_URL": redis,
            "DATASTEWARD_SECRET_KEY": strong_secret(),
            "DATASTEWARD_PROCESSES_DIR": str(ROOT / "processes"),
            "DATASTEWARD_TIMER_INTERVAL_S": "2",
            "DATASTEWARD_OUTBOX_INTERVAL_S": "2",
            "DATASTEWARD_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
            "PYTHONPATH": str(ROOT),
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.bases: list[str] = []

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """A `datasteward` command, as an operator runs it."""
        return subprocess.run(
            [str(BIN / "datasteward"), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def start(self, name: str, command: list[str], **extra_env: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                command,
                env={**self.env, **extra_env},
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes all its children
            )

    def start_api(self, name: str, port: int) -> str:
        metrics_dir = self.workdir / f"metrics-{name}"
        command = [str(BIN / "gunicorn"), "-c", "python:service.ops.gunicorn_conf"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", "2", "service.wsgi:app"]
        self.start(name, command, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        return f"http://127.0.0.1:{port}"

    def start_worker(self, name: str, queues: str, metrics_port: int) -> str:
        metrics_dir = self.workdir / f"metrics-{name}"
        metrics_dir.mkdir()
        command = [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "-Q", queues]
        command += ["-n", f"{name}@%h", "--concurrency", "2", "--loglevel", "INFO"]
        command += ["--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1"]
        self.start(name, command, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        return f"http://127.0.0.1:{metrics_port}"

    def start_beat(self) -> None:
        schedule = self.workdir / "beat-schedule"
        command = [str(BIN / "celery"), "-A", "workers.celery_app", "beat", "-s", str(schedule)]
        self.start("beat", command + ["--loglevel", "INFO"])

    def kill(self, name: str) -> None:
        """SIGKILL the process and all its children, with no chance to clean up."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def alive(self, name: str) -> bool:
        return self.processes[name].poll() is None

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - loopback
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until(check: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError as error:
            last = error
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout}s ({last})")


def ready(base: str) -> bool:
    status, body = get(f"{base}/readyz")
    return status == 200 and json.loads(body)["status"] == "ready"


class JobLog:
    """Which jobs of one kind a worker has taken and which it finished, read from its log.

    A prefork worker logs ``Task <name>[<id>] received`` when it takes a job
    from the broker and ``job finished`` (with ``job_id``) when the job's code
    has returned. A job received but not finished is in flight. The log is read
    incrementally, so `in_flight` is cheap enough to poll while the worker runs.
    """

    def __init__(self, path: Path, task_name: str) -> None:
        self.path, self.task_name = path, task_name
        self.offset = 0
        self.received: list[str] = []
        self.seen_at: dict[str, float] = {}  # job id -> when this reader first saw it taken
        self.finished: dict[str, str] = {}  # job id -> outcome
        self._tail = b""

    def read(self) -> JobLog:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        self.offset += len(chunk)
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()  # an unfinished last line waits for the next read
        for raw in lines:
            self._note(raw)
        return self

    def _note(self, raw: bytes) -> None:
        if not raw.startswith(b"{"):
            return
        entry = json.loads(raw)
        received = f"Task {self.task_name}["
        message = entry.get("message", "")
        if message.startswith(received) and message.endswith("] received"):
            job = message[len(received) : -len("] received")]
            self.received.append(job)
            self.seen_at.setdefault(job, time.monotonic())
        elif message == "job finished" and entry.get("task_name") == self.task_name:
            self.finished[entry["job_id"]] = entry.get("outcome", "")

    def in_flight(self, for_at_least: float = 0.0) -> list[str]:
        """Jobs taken and not finished (and seen taken at least ``for_at_least`` seconds ago)."""
        now = time.monotonic()
        return [
            job
            for job in self.received
            if job not in self.finished and now - self.seen_at[job] >= for_at_least
        ]
