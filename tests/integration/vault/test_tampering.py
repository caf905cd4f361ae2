"""Ciphertext moved to another subject or field, or a key under a wrong KEK version, fails."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from service.vault import service as vault
from service.vault.crypto import DecryptionError, KeyUnwrapError
from service.vault.keyring import UnknownKekVersion
from service.vault.models import DataKey, SubjectField
from tests.integration.vault.helpers import FORM, active_subject, resident_id


@pytest.fixture
def two_subjects(deps):
    first = active_subject(deps)
    second = active_subject(
        deps, dict(FORM, id_number=resident_id("11010519800101001"), mobile="13912345678")
    )
    return first, second


def _ciphertext(uow, subject: str, field: str) -> bytes:
    return uow.session.scalar(
        select(SubjectField.ciphertext).where(
            SubjectField.subject == subject, SubjectField.field == field
        )
    )


def _set(uow, subject: str, field: str, blob: bytes) -> None:
    uow.session.execute(
        update(SubjectField)
        .where(SubjectField.subject == subject, SubjectField.field == field)
        .values(ciphertext=blob)
    )


def test_ciphertext_swapped_between_subjects_fails_to_decrypt(deps, two_subjects):
    first, second = two_subjects
    with deps.unit_of_work() as uow:
        _set(uow, first, "mobile", _ciphertext(uow, second, "mobile"))
        with pytest.raises(DecryptionError, match="does not belong to subject/field/version"):
            vault.read_fields(uow, deps.keys, first)


def test_ciphertext_swapped_between_fields_fails_to_decrypt(deps, two_subjects):
    first, _ = two_subjects
    with deps.unit_of_work() as uow:
        _set(uow, first, "name", _ciphertext(uow, first, "address"))
        with pytest.raises(DecryptionError, match="'name'"):
            vault.read_fields(uow, deps.keys, first, ["name"])


def test_ciphertext_from_an_older_record_version_fails_to_decrypt(deps, two_subjects):
    first, _ = two_subjects
    with deps.unit_of_work() as uow:
        uow.session.execute(
            update(SubjectField).where(SubjectField.subject == first).values(record_version=2)
        )
        with pytest.raises(DecryptionError):
            vault.read_fields(uow, deps.keys, first)


def test_a_data_key_claiming_an_unknown_kek_version_is_detected(deps, two_subjects):
    first, _ = two_subjects
    with deps.unit_of_work() as uow:
        uow.keystore.execute(update(DataKey).where(DataKey.subject == first).values(kek_version=7))
        with pytest.raises(UnknownKekVersion, match="version 7 is not in the keyring"):
            vault.read_fields(uow, deps.keys, first)


def test_a_data_key_wrapped_under_another_kek_version_is_detected(deps, two_subjects):
    from service.access.service import SYSTEM
    from service.vault.rotation import rotate_keys

    first, second = two_subjects
    rotate_keys(deps, SYSTEM, batch_size=1)
    with deps.unit_of_work() as uow:
        uow.keystore.execute(update(DataKey).where(DataKey.subject == first).values(kek_version=1))
        with pytest.raises(KeyUnwrapError, match="key-encryption key version 1"):
            vault.read_fields(uow, deps.keys, first)
        assert vault.read_fields(uow, deps.keys, second)["mobile"] == "+8613912345678"
