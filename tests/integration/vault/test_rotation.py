"""KEK rotation with 10,000 subjects: interrupted half way, resumed, old KEK retired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.access.service import SYSTEM
from service.audit.models import AuditRecord
from service.errors import Conflict
from service.vault import service as vault
from service.vault.crypto import encrypt_field, new_data_key
from service.vault.keyring import load_keyring_file
from service.vault.models import DataKey, KeyRotation, Subject, SubjectField
from service.vault.rotation import key_status, retire_version, rotate_keys
from tests.conftest import ROOT
from tests.integration.worker_harness import redis_worker_environment

SUBJECTS = 10_000


class Interrupted(Exception):
    pass


def _many_subjects(deps, count: int) -> list[str]:
    """Subjects with one encrypted field each, written in bulk (the vault's own primitives)."""
    now, subjects = deps.now(), []
    with deps.unit_of_work() as uow:
        for index in range(count):
            subject, data_key = vault.new_pseudonym(), new_data_key()
            version, wrapped = deps.keys.keyring.wrap(data_key)
            uow.keystore.add(
                DataKey(subject=subject, kek_version=version, wrapped_key=wrapped, created_at=now)
            )
            uow.session.add(
                Subject(pseudonym=subject, status="active", created_at=now, updated_at=now)
            )
            blob = encrypt_field(
                data_key, f"name {index}", subject=subject, field="name", version=1
            )
            uow.session.add(
                SubjectField(subject=subject, field="name", record_version=1, ciphertext=blob)
            )
            subjects.append(subject)
        uow.commit()
    return subjects


def _interrupt_at(limit: int):
    def progress(done: int, _total: int) -> None:
        if done >= limit:
            raise Interrupted

    return progress


@pytest.mark.slow
def test_rotation_interrupted_half_way_resumes_and_the_old_kek_is_no_longer_needed(deps):
    subjects = _many_subjects(deps, SUBJECTS)
    with pytest.raises(Interrupted):
        rotate_keys(deps, SYSTEM, batch_size=500, progress=_interrupt_at(SUBJECTS // 2))
    status = key_status(deps)
    assert status["data_keys_by_version"] == {1: SUBJECTS // 2, 2: SUBJECTS // 2}
    assert status["unfinished_rotation"]["rewrapped"] == SUBJECTS // 2
    result = rotate_keys(deps, SYSTEM, batch_size=500)
    assert (result.target_version, result.rewrapped, result.resumed) == (2, SUBJECTS, True)
    assert key_status(deps)["data_keys_by_version"] == {2: SUBJECTS}
    retire_version(deps, SYSTEM, 1)
    keyring, _ = load_keyring_file(Path(deps.settings.keyring_file))
    assert keyring.versions == [2]
    with deps.unit_of_work() as uow:
        for index, subject in enumerate(subjects):
            assert vault.read_fields(uow, deps.keys, subject) == {"name": f"name {index}"}
        actions = uow.session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.action.like("keys.%"))
            .order_by(AuditRecord.seq)
        ).all()
        assert actions == ["keys.rotate_start", "keys.rotate", "keys.retire"]


def test_rotation_re_encrypts_nothing(deps):
    subjects = _many_subjects(deps, 20)
    with deps.unit_of_work() as uow:
        before = uow.session.execute(select(SubjectField.subject, SubjectField.ciphertext)).all()
    rotate_keys(deps, SYSTEM, batch_size=7)
    with deps.unit_of_work() as uow:
        assert (
            uow.session.execute(select(SubjectField.subject, SubjectField.ciphertext)).all()
            == before
        )
        assert uow.session.scalar(select(func.count()).select_from(KeyRotation)) == 1
    assert len(subjects) == 20


def test_a_kek_version_still_in_use_cannot_be_retired(deps):
    _many_subjects(deps, 3)
    with pytest.raises(Conflict):
        retire_version(deps, SYSTEM, 1)


def test_keys_rotate_command_shows_progress_and_records_the_rotation(deps, settings):
    _many_subjects(deps, 30)
    env = redis_worker_environment(settings)
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "keys", "rotate", "--batch-size", "10"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "30/30 (100%)" in done.stderr
    assert "rotation to KEK version 2 finished: 30 data keys re-wrapped" in done.stdout
    status = subprocess.run(
        [sys.executable, "-m", "service.cli", "keys", "status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert '"2": 30' in status.stdout


def test_case_document_keys_are_rewrapped_and_hold_their_kek_version_until_then(deps):
    from service.vault.case_documents import case_key_for_upload
    from service.vault.models import CaseKey

    _many_subjects(deps, 2)
    with deps.unit_of_work() as uow:
        case_key = case_key_for_upload(uow, deps.keys, "case-waiting-for-subject", deps.now())
        uow.commit()
    with pytest.raises(Conflict):
        retire_version(deps, SYSTEM, 1)
    result = rotate_keys(deps, SYSTEM, batch_size=10)
    assert result.rewrapped == 3
    retire_version(deps, SYSTEM, 1)
    with deps.unit_of_work() as uow:
        stored = uow.keystore.get_one(CaseKey, "case-waiting-for-subject")
        assert stored.kek_version == 2
        assert deps.keys.keyring.unwrap(stored.kek_version, stored.wrapped_key) == case_key


def test_a_queued_notifications_key_is_rewrapped_and_its_number_still_unseals(deps):
    import uuid

    from service.notifications import Notification, notify_customer
    from service.notifications.outbox import unseal
    from tests.api.conftest import VALID_FORM

    with deps.unit_of_work() as uow:
        fields = vault.clean_subject_fields(VALID_FORM)
        subject = vault.store_draft(uow, deps.keys, fields, deps.now())
        vault.enter_subject(uow, subject, deps.now())
        notification = notify_customer(
            uow, deps.keys, subject, "change_applied", str(uuid.uuid4()), deps.now()
        )
        uow.commit()
    with pytest.raises(Conflict, match="still wrapped"):
        retire_version(deps, SYSTEM, 1)
    assert rotate_keys(deps, SYSTEM, batch_size=10).rewrapped == 2  # the subject's, the notice's
    retire_version(deps, SYSTEM, 1)
    with deps.unit_of_work() as uow:
        row = uow.session.get_one(Notification, notification)
        assert unseal(uow, deps.keys, row) == "+86" + VALID_FORM["mobile"]
