"""Secure deletion through a real Celery worker on real Redis: backups, crashes, one certificate."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from service.notifications import Notification
from service.vault.crypto import DATA_KEY_BYTES, VaultCryptoError, decrypt_field
from service.vault.documents import decrypt_document
from service.vault.models import (
    DataKey,
    DeletionCertificate,
    DeletionRequest,
    NotificationKey,
    SubjectField,
)
from tests.conftest import need_service
from tests.integration.vault.helpers import (
    FORM,
    active_subject,
    actor_of,
    deletion_case,
    install_shredding_procedure,
    open_tasks,
    resident_id,
    shred_jobs,
)
from tests.integration.worker_harness import (
    deletion_worker,
    flush_broker,
    publish_jobs,
    wait_for_state,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def waiting_case(deps, users):
    """Two subjects; a deletion case for the first, waiting for the worker."""
    need_service("redis")
    flush_broker()
    install_shredding_procedure(deps)
    desk = actor_of(deps, users["frontdesk"], "frontdesk", "front_desk")
    bystander = active_subject(
        deps, dict(FORM, id_number=resident_id("11010519800101001"), mobile="13912345678")
    )
    subject = active_subject(deps)
    case_id = deletion_case(deps, desk, subject)
    [job] = shred_jobs(deps)
    return {
        "subject": subject,
        "case_id": case_id,
        "request_id": job["request_id"],
        "bystander": bystander,
    }


def _backup(deps, folder: Path) -> dict:
    """What an operator's backup of the data (not the key store) would hold."""
    folder.mkdir()
    shutil.copytree(deps.settings.document_store_dir, folder / "documents")
    if deps.db.is_postgres:
        dump = folder / "data.sql"
        url = deps.settings.database_url.replace("+psycopg", "")
        subprocess.run(["pg_dump", "--dbname", url, "--file", str(dump)], check=True)
    else:
        source = Path(deps.settings.database_url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copy(f"{source}{suffix}", folder / f"data.sqlite{suffix}")
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(
                SubjectField.subject,
                SubjectField.field,
                SubjectField.record_version,
                SubjectField.ciphertext,
            )
        ).all()
    return {
        "rows": rows,
        "documents": [p for p in (folder / "documents").rglob("*") if p.is_file()],
    }


def _everything_the_system_holds(deps) -> list[bytes]:
    """Every 32-byte secret left: each remaining data key, each KEK, the blind-index key."""
    keyring = deps.keys.keyring.keyring
    with deps.unit_of_work() as uow:
        stored = uow.keystore.execute(select(DataKey.kek_version, DataKey.wrapped_key)).all()
    candidates = [keyring.unwrap(version, wrapped) for version, wrapped in stored]
    candidates += [keyring._kek(version) for version in keyring.versions]
    candidates.append(deps.keys.blind_index_key[:DATA_KEY_BYTES])
    return candidates


def _decrypts(key: bytes, subject: str, field: str, version: int, blob: bytes) -> bool:
    try:
        decrypt_field(key, blob, subject=subject, field=field, version=version)
    except VaultCryptoError:
        return False
    return True


def _run_to_completion(deps, settings, tmp_path, request_id, crash_at: str = "") -> None:
    worker = deletion_worker(settings, tmp_path / "worker.log", crash_at)
    try:
        publish_jobs(deps)
        if crash_at:
            assert worker.wait_killed() == -9
            worker.stop()
            worker = deletion_worker(settings, tmp_path / "worker.log")
        wait_for_state(deps, request_id, "completed", worker)
    finally:
        worker.stop()


def test_shredding_leaves_nothing_in_a_backup_that_the_system_can_decrypt(
    deps, settings, tmp_path, waiting_case
):
    subject = waiting_case["subject"]
    backup = _backup(deps, tmp_path / "backup")
    subject_rows = [row for row in backup["rows"] if row.subject == subject]
    assert len(subject_rows) == 5 and len(backup["documents"]) == 1
    _run_to_completion(deps, settings, tmp_path, waiting_case["request_id"])
    keys = _everything_the_system_holds(deps)
    assert len(keys) >= 3  # the bystander's data key, the KEK, the blind-index key
    for row in subject_rows:
        assert not any(
            _decrypts(k, subject, row.field, row.record_version, row.ciphertext) for k in keys
        )
    blob = backup["documents"][0].read_bytes()
    with deps.unit_of_work() as uow:
        document_id = uow.session.scalar(
            text("SELECT detail FROM audit_records WHERE action = 'document.upload'")
        )
    document_id = (
        document_id if isinstance(document_id, dict) else __import__("json").loads(document_id)
    )["document"]
    for key in keys:
        with pytest.raises(VaultCryptoError):
            decrypt_document(key, blob, subject=subject, document_id=document_id)
    _assert_only_pseudonymous_traces(deps, subject)
    assert open_tasks(deps, waiting_case["case_id"]) == ["confirm"]


def _assert_only_pseudonymous_traces(deps, subject: str) -> None:
    allowed = {
        "subjects",
        "deletion_requests",
        "deletion_certificates",
        "audit_records",
        "cases",
        "notifications",  # which templates went out, their numbers erased (checked below)
    }
    engine = deps.db.engine
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            columns = [c["name"] for c in inspect(conn).get_columns(table)]
            if "subject" not in columns:
                continue
            hits = conn.execute(
                text(f'SELECT count(*) FROM "{table}" WHERE subject = :s'), {"s": subject}
            ).scalar()
            assert not hits or table in allowed, f"{table} still holds {hits} rows of the subject"
        status = conn.execute(
            text("SELECT status FROM subjects WHERE pseudonym = :s"), {"s": subject}
        ).scalar()
    assert status == "shredded"
    with deps.unit_of_work() as uow:
        sealed = uow.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.subject == subject, Notification.destination.is_not(None))
        )
        assert sealed == 0
        assert uow.keystore.scalar(select(func.count()).select_from(NotificationKey)) == 0
        assert (
            uow.keystore.scalar(
                select(func.count()).select_from(DataKey).where(DataKey.subject == subject)
            )
            == 0
        )


CRASH_POINTS = [
    "before_key_destroyed",
    "after_key_destroyed",
    "after_files_removed",
    "after_data_removed",
    "after_certified",
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_worker_killed_mid_deletion_is_finished_by_the_next_worker_with_one_certificate(
    deps, settings, tmp_path, waiting_case, crash_at, backend
):
    if backend == "postgres" and crash_at != "after_key_destroyed":
        pytest.skip("every crash point runs on SQLite; PostgreSQL runs the key-destroyed one")
    request_id = waiting_case["request_id"]
    _run_to_completion(deps, settings, tmp_path, request_id, crash_at)
    assert f"test crash point {crash_at} reached" in (tmp_path / "worker.log").read_text()
    with deps.unit_of_work() as uow:
        certificates = uow.session.scalars(select(DeletionCertificate.request_id)).all()
        assert certificates == [request_id]
        assert uow.session.get(DeletionRequest, request_id).state == "completed"
        body = json.loads(uow.session.scalars(select(DeletionCertificate.body)).one())
    # The proof document's file counts as removed even when the killed attempt removed it.
    assert body["destroyed"]["document_files_removed"] == len(body["destroyed"]["documents"]) == 1
    _assert_only_pseudonymous_traces(deps, waiting_case["subject"])
    assert open_tasks(deps, waiting_case["case_id"]) == ["confirm"]
