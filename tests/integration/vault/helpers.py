"""Building blocks for the vault's integration tests: subjects, documents, a waiting case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from service.access.service import Actor
from service.cases import service as cases
from service.cases.models import Case, Task
from service.definitions.service import _published, read_procedure_folder
from service.deps import Deps
from service.signing import load_signing_key
from service.vault import service as vault
from service.vault.proofs import upload_document

PROCEDURES = Path(__file__).parent / "procedures"
FORM = {
    "name": "欧阳𠮷祥",
    "id_type": "resident_id",
    "id_number": "11010519491231002X",
    "mobile": "13812345678",
    "address": "北京市朝阳区建国路88号",
}
PDF = b"%PDF-1.4\n% proof document\n1 0 obj << >> endobj\n%%EOF\n"


def resident_id(body: str) -> str:
    """A valid 18-character resident ID number from its first 17 digits."""
    from stdnum.cn import ric

    return body + ric.calc_check_digit(body + "0")


def install_shredding_procedure(deps: Deps) -> None:
    files = read_procedure_folder(PROCEDURES / "shreds_subject")
    with deps.unit_of_work() as uow:
        uow.session.add(_published(files, deps.now()))
        uow.commit()
    load_signing_key(deps.settings, create=True)


def active_subject(deps: Deps, form: dict[str, str] | None = None) -> str:
    with deps.unit_of_work() as uow:
        subject = vault.store_draft(
            uow, deps.keys, vault.clean_subject_fields(form or FORM), deps.now()
        )
        vault.enter_subject(uow, subject, deps.now())
        uow.commit()
    return subject


def actor_of(deps: Deps, user_id: int, username: str, *roles: str) -> Actor:
    return Actor(user_id, username, frozenset(roles))


def deletion_case(deps: Deps, desk: Actor, subject: str, document: bytes | None = PDF) -> str:
    """A case about the subject, its request done: now waiting for "shredding_done"."""
    case_id = cases.start_case(deps, desk, "shreds_subject")["id"]
    with deps.unit_of_work() as uow:
        uow.session.execute(update(Case).where(Case.id == case_id).values(subject=subject))
        uow.commit()
    if document is not None:
        upload_document(deps, desk, case_id, "proof.pdf", document)
    cases.complete_task(deps, desk, open_task(deps, case_id, "request"), {"note": "approved"})
    return case_id


def open_task(deps: Deps, case_id: str, name: str) -> str:
    with deps.unit_of_work() as uow:
        return uow.session.scalars(
            select(Task.id).where(
                Task.case_id == case_id,
                Task.spec_name == name,
                Task.status.in_(("open", "claimed")),
            )
        ).one()


def open_tasks(deps: Deps, case_id: str) -> list[str]:
    with deps.unit_of_work() as uow:
        return list(
            uow.session.scalars(
                select(Task.spec_name).where(Task.case_id == case_id, Task.status == "open")
            )
        )


def shred_jobs(deps: Deps) -> list[dict[str, Any]]:
    return [
        kwargs
        for _id, name, kwargs in deps.extras["published"]
        if name == "datasteward.deletion.shred"
    ]
