"""Task completion through the real HTTP stack: gunicorn on loopback, concurrent clients.

The clients are plain http.client connections in threads: they spend little
CPU next to the server, which shares the machine with them and the database.
Every completion (consent, form, review) of every case is timed.

Two loads:

- saturating: each client sends its next request as soon as the last one is
  answered. This finds the most completions per second the server does; the
  latency it shows is mostly waiting in line, since 16 clients keep every
  worker busy all the time (by Little's law the mean is clients / throughput).
- paced: the same clients send at a set rate (a fraction of the saturating
  one), each request at a time drawn in advance (Poisson arrivals), and the
  latency counts from that time, not from when the client got round to
  sending -- a slow answer that delays the next request is charged to it
  (no coordinated omission). This is the latency users see at that load.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from service.access.service import Actor, issue_token
from service.bench.flows import APPROVE, CONSENT, subscriber_form, task_named
from service.bench.latency import percentile
from service.config import PREFIX, Settings
from service.deps import Deps


@dataclass(frozen=True)
class HttpResult:
    p50_ms: float
    p99_ms: float
    completions: int
    per_s: float  # completions per second over the whole run


def gunicorn_workers(cores: int) -> int:
    """Sync workers for a CPU-bound service: one per core (the shipped WEB_CONCURRENCY=2).

    A request is CPU work in the worker and in the database, which share the
    cores with the clients. Measured on 2 cores, 16 clients, in one run each:
    PostgreSQL p99 166 ms with 2 workers, 228-338 ms with 3, 405 ms with 4,
    529 ms with 5 (gunicorn's 2 * cores + 1); SQLite likewise. More workers
    than cores only queue on the cores and lengthen the tail.
    """
    return cores


@contextmanager
def running_server(settings: Settings, workers: int) -> Iterator[int]:
    """The production server: gunicorn with the shipped settings (service.ops.gunicorn_conf)."""
    port = _free_port()
    env = {
        **os.environ,
        **_environment(settings),
        PREFIX + "HOST": "127.0.0.1",
        PREFIX + "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
    }
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:service.ops.gunicorn_conf",
        "--log-level", "warning", "service.wsgi:app",
    ]  # fmt: skip
    # The server logs each request, as in production; into a file, not over the bench's output.
    log_path = Path(settings.var_dir) / "bench-gunicorn.log"
    with log_path.open("ab") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            _wait_until_up(port, server)
        except RuntimeError as error:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{error}; its log ends with:\n{tail}") from None
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def http_completions(
    deps: Deps,
    port: int,
    desk: Actor,
    reviewer: Actor,
    clients: int,
    cases_each: int,
    rate_per_s: float | None = None,
) -> HttpResult:
    """Every client runs ``cases_each`` cases; saturating, or paced at ``rate_per_s`` in all."""
    tokens = _tokens(deps, desk, reviewer)
    timings: list[float] = []
    errors: list[str] = []
    began = time.perf_counter()
    interval = clients / rate_per_s if rate_per_s else None
    threads = [
        threading.Thread(
            target=_client,
            args=(port, tokens, cases_each, timings, errors, _Pace(began, interval, seed)),
        )
        for seed in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"an HTTP bench client failed: {errors[0]}")
    return HttpResult(
        percentile(timings, 0.5), percentile(timings, 0.99), len(timings), len(timings) / seconds
    )


class _Pace:
    """When a client's next completion is due: now (saturating) or on a Poisson schedule."""

    def __init__(self, began: float, interval: float | None, seed: int) -> None:
        self.interval = interval
        self.due = began
        self.random = random.Random(seed)  # noqa: S311 - arrival times, not secrets

    def next_due(self) -> float:
        if self.interval is None:
            return time.perf_counter()
        self.due += self.random.expovariate(1 / self.interval)
        pause = self.due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        return self.due


def _client(
    port: int,
    tokens: dict[str, str],
    cases: int,
    timings: list[float],
    errors: list[str],
    pace: _Pace,
) -> None:
    try:
        for _ in range(cases):
            case = _call(port, "POST", "/api/v1/cases", tokens["desk"], {"procedure": "collection"})
            for name, who, data in (
                ("record_consent", "desk", CONSENT),
                ("fill_form", "desk", subscriber_form()),
                ("review", "reviewer", APPROVE),
            ):
                path = f"/api/v1/tasks/{task_named(case, name)}/complete"
                due = pace.next_due()
                case = _call(port, "POST", path, tokens[who], {"data": data})
                timings.append((time.perf_counter() - due) * 1000)
    except Exception as error:  # noqa: BLE001 - reported by the caller
        errors.append(f"{type(error).__name__}: {error}")


def _call(port: int, method: str, path: str, token: str, body: Any) -> Any:
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, body=json.dumps(body), headers=headers)
        reply = conn.getresponse()
        payload = json.loads(reply.read() or b"null")
    finally:
        conn.close()
    if reply.status >= 300:
        raise RuntimeError(f"{method} {path} answered {reply.status}: {payload}")
    return payload


def _tokens(deps: Deps, desk: Actor, reviewer: Actor) -> dict[str, str]:
    with deps.unit_of_work() as uow:
        ttl = timedelta(hours=2)
        tokens = {
            "desk": issue_token(uow.session, desk.id, deps.now(), ttl)[0],
            "reviewer": issue_token(uow.session, reviewer.id, deps.now(), ttl)[0],
        }
        uow.commit()
    return tokens


def _environment(settings: Settings) -> dict[str, str]:
    names = {"var_dir", "database_url", "keystore_url", "broker_url", "keyring_file"}
    names |= {"blind_index_key_file", "signing_key_file", "processes_dir"}
    values = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name in names}
    return {PREFIX + name.upper(): str(value) for name, value in values.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode} before serving")
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")
