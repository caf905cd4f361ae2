"""The archive round trip with a real Celery worker on real Redis.

Archive and prune by the worker, verify the live chain and, with only the
public key, the archive; then flip one byte and watch verification fail
naming the segment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.audit.archiving import segment_statuses
from service.audit.verify import verify_live
from service.config import Settings
from service.ops.queues import queue_for
from service.signing import public_key_pem
from tests.conftest import REDIS_URL, ROOT, FixedClock, need_service
from tests.integration.audit.audit_helpers import fill_log
from tests.integration.worker_harness import Worker, flush_broker, worker_environment


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    need_service("redis")
    flush_broker()
    started = Worker(worker_environment(settings, REDIS_URL), tmp_path / "worker.log")
    yield started
    started.stop()


def _wait_until_pruned(deps, timeout: float = 90.0) -> list[str]:
    deadline = time.monotonic() + timeout
    statuses: list[str] = []
    while time.monotonic() < deadline:
        statuses = [s["status"] for s in segment_statuses(deps)]
        if statuses and all(status == "pruned" for status in statuses):
            break
        time.sleep(0.3)
    return statuses


def _verify_archive_cli(settings: Settings, key_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "audit",
            "verify-archive",
            settings.archive_dir,
            "--public-key",
            str(key_file),
        ],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_real_worker_archives_and_prunes_and_both_halves_verify(deps, worker, tmp_path) -> None:
    from celery import Celery

    deps.clock = FixedClock(datetime(2022, 10, 1, 8, tzinfo=UTC))
    fill_log(deps, 40, hours_apart=3)
    deps.clock = FixedClock(datetime.now(UTC))
    fill_log(deps, 3)
    task = "datasteward.audit.archive"
    Celery(broker=REDIS_URL).send_task(task, queue=queue_for(task))
    statuses = _wait_until_pruned(deps)
    assert statuses == ["pruned"] * 6, segment_statuses(deps)

    report = verify_live(deps)
    assert report.ok, report.problems
    assert report.pruned == 40 and report.records >= 3
    key_file = tmp_path / "checkpoint-key.pem"
    key_file.write_bytes(public_key_pem(deps.settings))
    verified = _verify_archive_cli(deps.settings, key_file)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip() == "OK 6 segments, 40 records verify"

    data = Path(deps.settings.archive_dir) / "segment-00000003.jsonl.gz"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0x40
    data.write_bytes(bytes(raw))
    broken = _verify_archive_cli(deps.settings, key_file)
    assert broken.returncode == 1
    assert "FAIL segment 3: data file digest differs from the signed manifest" in broken.stderr
