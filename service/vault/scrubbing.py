"""Before a subject's key is destroyed: make sure no vault value hides in workflow state.

Workflow data should carry pseudonyms only (design rule 1); secure deletion
still looks, in every case of the subjects being shredded, for each of their
decrypted values as JSON would write it, and replaces any it finds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from service.cases.models import Case
from service.db import UnitOfWork
from service.vault.crypto import decrypt_field
from service.vault.keys import VaultKeys
from service.vault.models import DataKey, SubjectField

_SHREDDED_MARK = "[shredded]"


def scrub_workflow_state(
    uow: UnitOfWork, vault_keys: VaultKeys, keys: dict[str, DataKey], now: datetime
) -> dict[str, int]:
    """Verify the subjects' cases hold no vault value in their workflow state; scrub any found.

    Workflow data should carry pseudonyms only (design rule 1), so this is
    expected to find nothing; the count per subject goes on the certificate.
    """
    cases: dict[str, list[Any]] = {}
    for case in uow.session.execute(
        select(Case.id, Case.subject, Case.state, Case.lock_version).where(
            Case.subject.in_(list(keys))
        )
    ):
        cases.setdefault(case.subject, []).append(case)
    values = _values_of(uow, vault_keys, {subject: keys[subject] for subject in cases})
    return {
        subject: sum(
            _scrub_case(uow, case, _needles(values.get(subject, [])), now) for case in found
        )
        for subject, found in cases.items()
    }


def _values_of(
    uow: UnitOfWork, vault_keys: VaultKeys, keys: dict[str, DataKey]
) -> dict[str, list[str]]:
    """The subjects' decrypted values (to find copies that must be erased); nothing leaves here."""
    data_keys = {
        s: vault_keys.keyring.unwrap(k.kek_version, k.wrapped_key) for s, k in keys.items()
    }
    values: dict[str, list[str]] = {}
    for row in uow.session.scalars(
        select(SubjectField).where(SubjectField.subject.in_(list(keys)))
    ):
        if row.field == "id_type":
            continue
        plaintext = decrypt_field(
            data_keys[row.subject],
            row.ciphertext,
            subject=row.subject,
            field=row.field,
            version=row.record_version,
        ).decode("utf-8")
        if plaintext:
            values.setdefault(row.subject, []).append(plaintext)
    return values


def _needles(values: list[str]) -> set[str]:
    # The state is JSON: look for each value as JSON would write it, either way.
    return {json.dumps(v)[1:-1] for v in values} | {
        json.dumps(v, ensure_ascii=False)[1:-1] for v in values
    }


def _scrub_case(uow: UnitOfWork, case: Any, needles: set[str], now: datetime) -> int:
    found = [needle for needle in needles if needle and needle in case.state]
    if not found:
        return 0
    state = case.state
    for needle in found:
        state = state.replace(needle, _SHREDDED_MARK)
    uow.session.execute(
        update(Case)
        .where(Case.id == case.id, Case.lock_version == case.lock_version)
        .values(state=state, lock_version=case.lock_version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(found)
