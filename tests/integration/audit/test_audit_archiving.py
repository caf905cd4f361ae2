"""Archiving in-process on SQLite and PostgreSQL: seal, write, verify, prune, resume."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.audit.archive_format import check_continuity, verify_archive_dir
from service.audit.archive_store import LocalArchiveStore
from service.audit.archiving import run_archiving, segment_statuses
from service.audit.checkpoints import make_checkpoint
from service.audit.verify import verify_live
from service.signing import load_signing_key
from tests.conftest import FixedClock
from tests.integration.audit.audit_helpers import fill_log

FOUR_YEARS_AGO = datetime(2022, 11, 1, 9, 0, tzinfo=UTC)
TODAY = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.fixture
def old_log(deps):
    """30 records spread over three days four years ago, then 5 from today."""
    deps.clock = FixedClock(FOUR_YEARS_AGO)
    fill_log(deps, 30, hours_apart=2.5)
    deps.clock = FixedClock(TODAY)
    fill_log(deps, 5)
    return deps


def _archive_problems(deps) -> list[str]:
    checks = verify_archive_dir(
        deps.settings.archive_dir, load_signing_key(deps.settings).public_key()
    )
    return [p for c in checks for p in c.problems] + check_continuity(checks)


def test_archiving_seals_closed_days_prunes_them_and_everything_still_verifies(old_log) -> None:
    deps = old_log
    summary = run_archiving(deps)
    assert summary == {"sealed": 4, "archived": 4, "pruned": 4}
    assert [s["status"] for s in segment_statuses(deps)] == ["pruned"] * 4
    report = verify_live(deps)
    assert report.ok, report.problems
    assert report.pruned == 30
    assert _archive_problems(deps) == []
    make_checkpoint(deps)
    assert verify_live(deps).ok


def test_archiving_twice_changes_nothing_the_second_time(old_log) -> None:
    run_archiving(old_log)
    assert run_archiving(old_log) == {"sealed": 0, "archived": 0, "pruned": 0}


def test_records_younger_than_the_retention_period_are_archived_but_kept(deps) -> None:
    for start, count in ((FOUR_YEARS_AGO, 4), (datetime(2024, 6, 1, tzinfo=UTC), 3), (TODAY, 2)):
        deps.clock = FixedClock(start)
        fill_log(deps, count)
    summary = run_archiving(deps)
    assert summary == {"sealed": 2, "archived": 2, "pruned": 1}
    assert [s["status"] for s in segment_statuses(deps)] == ["pruned", "archived"]
    report = verify_live(deps)
    assert report.ok and report.pruned == 4, report.problems


def test_a_flipped_byte_in_an_archive_fails_verification_naming_the_segment(old_log) -> None:
    run_archiving(old_log)
    data = Path(old_log.settings.archive_dir) / "segment-00000002.jsonl.gz"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    assert _archive_problems(old_log) == [
        "segment 2: data file digest differs from the signed manifest"
    ]


class CrashBeforeManifest(LocalArchiveStore):
    """The real directory store, dying once the way a killed worker would: mid-segment."""

    crashed = False

    def put(self, name: str, data: bytes) -> None:
        if name.endswith(".manifest.json") and not self.crashed:
            self.crashed = True
            raise KeyboardInterrupt("worker killed")
        super().put(name, data)


def test_a_worker_killed_mid_archive_is_resumed_by_the_next_run(old_log) -> None:
    deps = old_log
    deps.extras["archive_store"] = CrashBeforeManifest(deps.settings.archive_dir)
    with pytest.raises(KeyboardInterrupt):
        run_archiving(deps)
    assert [s["status"] for s in segment_statuses(deps)][0] == "sealed"
    summary = run_archiving(deps)
    assert summary["pruned"] == 4
    assert _archive_problems(deps) == []
    assert verify_live(deps).ok
