"""Where a form's personal values go: never into the workflow, always into the vault.

Three kinds of field, marked in the form's JSON Schema:

- ``x-lookup`` fields identify an existing customer; they are resolved to the
  subject's pseudonym through the blind index and then forgotten;
- ``x-personal`` fields of a collection are the new customer's record (a
  draft until the reviewer approves and the record is entered);
- ``x-personal`` fields named ``new_*`` of a change request are the values
  the customer asks for, sealed under the subject's key until approved.

The workflow only ever sees the pseudonym. Proof documents uploaded before the
case knew its subject move under the subject's key when the form naming it is
sent (those it lists; the others are destroyed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from service.access.service import SYSTEM, Actor
from service.cases.forms import split_fields
from service.cases.models import Case
from service.db import UnitOfWork
from service.deps import Deps
from service.errors import Conflict, Invalid
from service.vault import changes, proofs
from service.vault import service as vault
from service.vault.blind_index import MOBILE_KIND
from service.vault.models import CaseDocument, SubjectDocument


def take_personal_data(
    uow: UnitOfWork,
    deps: Deps,
    case: Case,
    schema: dict[str, Any],
    data: dict[str, Any],
    now: datetime,
    actor: Actor = SYSTEM,
) -> dict[str, Any]:
    """Move the form's personal values into the vault; returns what the workflow may keep.

    ``actor`` (who sent the form) is named in the audit records of the proof
    documents that move under the subject's key.
    """
    task_data, personal, lookup = split_fields(schema, data)
    documents = data.get("documents") or []
    _check_documents(uow, case, documents)
    known_before = case.subject
    if lookup:
        case.subject = _resolve(uow, deps, case, lookup)
    changed = {k: v for k, v in personal.items() if k.startswith(changes.NEW_PREFIX)}
    if changed:
        if case.subject is None:
            raise Invalid.field("id_number", "identify the customer whose record changes")
        values = changes.requested_values(changed)
        changes.check_not_taken(uow, deps.keys, case.subject, values)
        changes.store_pending_change(uow, deps.keys, case.subject, case.id, values, now)
        task_data["requested_fields"] = sorted(values)
    record = {k: v for k, v in personal.items() if k not in changed}
    if record:
        case.subject = _store_record(uow, deps, case, record, now)
    if case.subject:
        task_data["subject"] = case.subject
    if case.subject and not known_before:
        # Proof filed with the request itself was held by the case's key until now.
        proofs.settle_documents(uow, deps, case, documents, now, actor)
    return task_data


def _resolve(uow: UnitOfWork, deps: Deps, case: Case, lookup: dict[str, Any]) -> str:
    cleaned = vault.clean_subject_fields(lookup, partial=True)
    terms = vault.lookup_terms(cleaned)
    if not terms:
        raise Invalid.field("id_number", "give the customer's ID type and number, or mobile")
    found = vault.find_duplicate(uow, deps.keys, cleaned)
    if found is None:
        field = "mobile" if terms[0][0] == "mobile" else "id_number"
        raise Invalid.field(field, "no customer on record matches")
    if case.subject is not None and case.subject != found:
        raise Conflict("this case is already about another customer")
    return found


def _store_record(
    uow: UnitOfWork, deps: Deps, case: Case, record: dict[str, Any], now: datetime
) -> str:
    cleaned = vault.clean_subject_fields(record)
    match = vault.find_match(uow, deps.keys, cleaned)
    if match is not None and match[0] != case.subject:
        existing, kind = match
        if kind == MOBILE_KIND:
            # Only the number matched: another customer (or this one under another ID).
            raise Conflict(
                "this mobile number is on record for a customer with another ID document; "
                "if the number was reassigned, change that customer's record first",
                details=[{"field": "mobile", "reason": "already on record", "subject": existing}],
            )
        raise Conflict(
            "this customer is already on record; file a change request (update procedure) instead",
            details=[{"field": "id_number", "reason": "already on record", "subject": existing}],
        )
    return vault.store_draft(uow, deps.keys, cleaned, now, case.subject)


def _check_documents(uow: UnitOfWork, case: Case, document_ids: list[str]) -> None:
    """Proof documents named in a form must have been uploaded to this very case."""
    if not document_ids:
        return
    known = {
        found
        for table in (SubjectDocument, CaseDocument)
        for found in uow.session.scalars(
            select(table.id).where(table.case_id == case.id, table.id.in_(document_ids))
        )
    }
    missing = [d for d in document_ids if d not in known]
    if missing:
        raise Invalid.field("documents", f"not uploaded to this case: {missing}")
