"""The README's run command: `datasteward run` brings up the API and a worker, seeded."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 - loopback only
        return json.loads(reply.read())


def test_run_starts_a_seeded_service_and_a_worker(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASTEWARD_")}
    env.update(DATASTEWARD_VAR_DIR=str(tmp_path / "var"), DATASTEWARD_PORT=str(port))
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if _get(f"{base}/healthz")["status"] == "ok":
                    break
            except OSError:
                time.sleep(0.5)
        login = _get(
            f"{base}/api/v1/auth/login", {"username": "frontdesk", "password": "datasteward-demo"}
        )
        assert login["user"]["roles"] == ["front_desk"]
        deadline = time.monotonic() + 60
        while "celery@" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        output = log.read_text()
        assert "Demo users" in output and "celery@" in output, output[-2000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        with suppress(ProcessLookupError):  # whatever of the group outlived the stop
            os.killpg(process.pid, signal.SIGKILL)
