"""Update procedure (3.3): a change request's new values wait, encrypted, until approved.

The values the front desk takes from the change request form are sealed
under the subject's own key at once; the approved "apply" step writes them
as the subject's new record and leaves a change-log entry whose before and
after are encrypted under the same key, so shredding the subject later also
shreds its change history while the audit chain stays verifiable.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, LargeBinary, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from service.access.service import Actor, require_permission
from service.audit.models import AuditRecord
from service.audit.service import Event, record
from service.db import Base, UnitOfWork
from service.deps import Deps
from service.errors import Conflict, Gone, NotFound
from service.vault import service as vault
from service.vault.crypto import decrypt_field, encrypt_field
from service.vault.keys import VaultKeys
from service.vault.models import DataKey, Subject, SubjectField

CHANGE_FIELD = "pending_change"
NEW_PREFIX = "new_"


class PendingChange(Base):
    __tablename__ = "pending_changes"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def requested_values(personal: dict[str, Any]) -> dict[str, str]:
    """``new_name`` etc. from the form, as the subject's field names, validated."""
    wanted = {
        k.removeprefix(NEW_PREFIX): v for k, v in personal.items() if k.startswith(NEW_PREFIX)
    }
    return vault.clean_subject_fields(wanted, partial=True)


def check_not_taken(uow: UnitOfWork, keys: VaultKeys, subject: str, values: dict[str, str]) -> None:
    """A new ID number or mobile must not be another live customer's: lookups would be torn."""
    asked = dict(values)
    if "id_number" in asked and "id_type" not in asked:
        asked["id_type"] = vault.read_fields(uow, keys, subject, ["id_type"])["id_type"]
    identities: list[tuple[dict[str, str], str]] = [
        ({k: asked[k] for k in ("id_type", "id_number") if k in asked}, "new_id_number"),
        ({"mobile": asked["mobile"]} if "mobile" in asked else {}, "new_mobile"),
    ]
    for fields, name in identities:
        if "id_number" in fields or "mobile" in fields:
            other = vault.find_duplicate(uow, keys, fields)
            if other is not None and other != subject:
                raise Conflict(
                    f"the new value is on record for another customer ({other})",
                    details=[{"field": name, "reason": "on record for another customer"}],
                )


def store_pending_change(
    uow: UnitOfWork,
    keys: VaultKeys,
    subject: str,
    case_id: str,
    values: dict[str, str],
    now: datetime,
) -> None:
    blob = encrypt_field(
        vault.data_key_of(uow, keys, subject),
        json.dumps(values, ensure_ascii=False),
        subject=subject,
        field=f"{CHANGE_FIELD}:{case_id}",
        version=0,
    )
    uow.session.execute(delete(PendingChange).where(PendingChange.case_id == case_id))
    uow.session.add(
        PendingChange(case_id=case_id, subject=subject, ciphertext=blob, created_at=now)
    )


def pending_values(
    uow: UnitOfWork, keys: VaultKeys, case_id: str, subject: str
) -> dict[str, str] | None:
    """The new values a case's change request asks for, decrypted; None when it has none."""
    pending = uow.session.get(PendingChange, case_id)
    if pending is None or pending.subject != subject:
        return None
    return _decrypt_pending(uow, keys, pending)


def _decrypt_pending(uow: UnitOfWork, keys: VaultKeys, pending: PendingChange) -> dict[str, str]:
    values: dict[str, str] = json.loads(
        decrypt_field(
            vault.data_key_of(uow, keys, pending.subject),
            pending.ciphertext,
            subject=pending.subject,
            field=f"{CHANGE_FIELD}:{pending.case_id}",
            version=0,
        )
    )
    return values


def apply_change(
    uow: UnitOfWork, keys: VaultKeys, actor: Actor, subject: str, case_id: str, now: datetime
) -> dict[str, str | None]:
    """Write the approved values as the subject's record; returns, for each changed field,
    the value it replaced (None where the record had none)."""
    pending = uow.session.get(PendingChange, case_id)
    if pending is None or pending.subject != subject:
        raise NotFound(f"case {case_id} has no pending change for {subject}")
    data_key = vault.data_key_of(uow, keys, subject)
    values = _decrypt_pending(uow, keys, pending)
    check_not_taken(uow, keys, subject, values)  # someone may have taken it since the request
    before = vault.read_fields(uow, keys, subject, values)
    version = _next_version(uow, subject, now)
    for name, value in values.items():
        _write_field(uow, data_key, subject, name, value, version)
    try:
        vault.reindex(uow, keys, subject)
    except IntegrityError:  # taken by another customer since the check above, at this moment
        field = "new_id_number" if "id_number" in values else "new_mobile"
        raise Conflict(
            "the new value is on record for another customer",
            details=[{"field": field, "reason": "on record for another customer"}],
        ) from None
    uow.session.delete(pending)
    detail = vault.encrypt_detail(uow, keys, subject, {"before": before, "after": values})
    record(
        uow.session,
        actor,
        Event(
            action="subject.update",
            case_id=case_id,
            subject=subject,
            fields=sorted(values),
            purpose="change request",
            detail_enc=detail,
        ),
        now,
    )
    return {name: before.get(name) for name in sorted(values)}


def read_change_log_entry(deps: Deps, actor: Actor, seq: int) -> dict[str, Any]:
    """An update's before and after from its change-log record, for auditors; audited.

    The values are sealed under the subject's key in the record: after the
    subject is deleted they are gone by design (410), while the record itself
    still verifies in the chain.
    """
    require_permission(actor, "audit.read_detail")
    with deps.unit_of_work() as uow:
        row = uow.session.get(AuditRecord, seq)
        if row is None or row.detail_enc is None or row.subject is None:
            raise NotFound(f"audit record {seq} carries no sealed change detail")
        if uow.keystore.get(DataKey, row.subject) is None:
            raise Gone(f"subject {row.subject} was deleted; its change detail is unreadable")
        detail = vault.decrypt_detail(uow, deps.keys, row.subject, row.detail_enc)
        fields = sorted(set(detail.get("before", {})) | set(detail.get("after", {})))
        record(
            uow.session,
            actor,
            Event(
                action="subject.read",
                case_id=row.case_id,
                subject=row.subject,
                fields=fields,
                purpose=f"audit: change log record {seq}",
            ),
            deps.now(),
        )
        uow.commit()
    return {
        "seq": seq,
        "action": row.action,
        "case_id": row.case_id,
        "subject": row.subject,
        "before": detail.get("before", {}),
        "after": detail.get("after", {}),
    }


def _next_version(uow: UnitOfWork, subject: str, now: datetime) -> int:
    row = uow.session.scalars(
        select(Subject).where(Subject.pseudonym == subject).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"no subject {subject}")
    if row.status != "active":
        raise Conflict(f"subject {subject} is {row.status}; only an active record can change")
    row.record_version += 1
    row.updated_at = now
    return row.record_version


def _write_field(
    uow: UnitOfWork, data_key: bytes, subject: str, name: str, value: str, version: int
) -> None:
    blob = encrypt_field(data_key, value, subject=subject, field=name, version=version)
    row = uow.session.get(SubjectField, (subject, name))
    if row is None:
        uow.session.add(
            SubjectField(subject=subject, field=name, record_version=version, ciphertext=blob)
        )
    else:
        row.record_version, row.ciphertext = version, blob
