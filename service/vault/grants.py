"""Query procedure (3.4): a grant is the only way a department sees a customer's data.

An approved query request issues a grant: these fields, of this subject, for
this requester, for this purpose and legal basis, until it expires, for a
bounded number of views. Every read through it is a query-log entry; every
refused read (no grant, expired, used up, other person, other field) is a
403 with its reason, audited.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.access.models import User
from service.access.service import Actor
from service.audit.service import Event, Refusal, record, records_refusals
from service.cases.models import Case
from service.clock import aware, iso
from service.db import Base, UnitOfWork
from service.deps import Deps
from service.errors import Invalid, NotFound
from service.vault import service as vault
from service.vault.consents import Consent
from service.vault.masking import mask_value
from service.vault.models import Subject

GRANT_PREFIX = "grt_"
FIELDS = ("name", "id_type", "id_number", "mobile", "address")


class Grant(Base):
    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_requester", "requester_id", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    subject: Mapped[str] = mapped_column(String(40))
    requester_id: Mapped[int]
    fields: Mapped[list] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(200))
    legal_basis: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_views: Mapped[int]
    views: Mapped[int] = mapped_column(default=0)


def issue_grant(
    uow: UnitOfWork,
    *,
    case_id: str,
    subject: str,
    requester_id: int,
    fields: list[str],
    purpose: str,
    legal_basis: str,
    now: datetime,
    ttl: timedelta,
    max_views: int,
) -> Grant:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown or not fields:
        raise Invalid.field("approved_fields", f"must name some of {list(FIELDS)}")
    grant = Grant(
        id=GRANT_PREFIX + secrets.token_hex(16),
        case_id=case_id,
        subject=subject,
        requester_id=requester_id,
        fields=sorted(set(fields)),
        purpose=purpose,
        legal_basis=legal_basis,
        issued_at=now,
        expires_at=now + ttl,
        max_views=max_views,
    )
    uow.session.add(grant)
    return grant


@records_refusals
def read_through_grant(
    deps: Deps, actor: Actor, grant_id: str, fields: list[str] | None = None
) -> dict[str, Any]:
    """The granted values in clear, one view used; refused with the reason otherwise."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        grant = uow.session.scalars(
            select(Grant).where(Grant.id == grant_id).with_for_update()
        ).one_or_none()
        if grant is None:
            raise _refusal(grant_id, None, "no such grant")
        wanted = sorted(set(fields or grant.fields))
        _check(grant, actor, wanted, now)
        if _deleted(uow.session, grant):
            raise _refusal(grant.id, grant, DELETED)
        values = vault.read_fields(uow, deps.keys, grant.subject, wanted)
        grant.views += 1
        record(
            uow.session,
            actor,
            Event(
                action="subject.read",
                case_id=grant.case_id,
                subject=grant.subject,
                fields=wanted,
                purpose=grant.purpose,
                legal_basis=grant.legal_basis,
                detail={"grant": grant.id, "view": grant.views},
            ),
            now,
        )
        uow.commit()
        return {"grant": _summary(grant), "values": values}


# A grant outlives the data it was for when the customer's data is deleted (their key
# destroyed): it shows so, and reading it is refused in those words.
DELETED = "the customer's data has been deleted; nothing is left to show"


def _deleted(session: Session, grant: Grant) -> bool:
    return _gone(session.scalar(select(Subject.status).where(Subject.pseudonym == grant.subject)))


def _gone(status: str | None) -> bool:
    """A subject's status that leaves nothing to read: shredded (or no record at all)."""
    return status in (None, "shredded")


def list_grants(deps: Deps, actor: Actor) -> list[dict[str, Any]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.execute(
            select(Grant, Subject.status)
            .join(Subject, Subject.pseudonym == Grant.subject, isouter=True)
            .where(Grant.requester_id == actor.id)
            .order_by(Grant.issued_at.desc())
        ).all()
        return [_summary(g, deleted=_gone(status)) for g, status in rows]


def show_grant(deps: Deps, actor: Actor, grant_id: str) -> dict[str, Any]:
    """A grant's terms, with the values masked (seeing them in clear is a counted view)."""
    with deps.unit_of_work() as uow:
        grant = uow.session.get(Grant, grant_id)
        if grant is None or grant.requester_id != actor.id:
            raise NotFound(f"no grant {grant_id} of yours")
        if _deleted(uow.session, grant):
            return _summary(grant, deleted=True) | {"masked": {}}
        masked = {
            name: value if name == "id_type" else mask_value(name, value)
            for name, value in vault.read_fields(
                uow, deps.keys, grant.subject, grant.fields
            ).items()
        }
        return _summary(grant) | {"masked": masked}


SUBJECT_ACCESS = "subject_access"


def processing_record(deps: Deps, actor: Actor, grant_id: str) -> dict[str, Any]:
    """What the customer is told besides their data when they ask for it (PIPL Art. 45).

    Only with a grant of the customer's own access request, to its holder, while it
    runs: their consents (purpose, text version, when), their requests and cases
    (procedure, when, outcome), and who was given access to which of their data,
    for what purpose and on what legal basis. Pseudonymous facts only, no values;
    the read is audited.
    """
    now = deps.now()
    with deps.unit_of_work() as uow:
        grant = uow.session.get(Grant, grant_id)
        if grant is None or grant.requester_id != actor.id:
            raise NotFound(f"no grant {grant_id} of yours")
        if grant.purpose != SUBJECT_ACCESS:
            raise NotFound(f"grant {grant_id} is not for a customer's own access request")
        if aware(grant.expires_at) <= now:
            raise _refusal(grant.id, grant, f"the grant expired at {iso(grant.expires_at)}")
        subject = uow.session.get_one(Subject, grant.subject)
        consents = uow.session.scalars(
            select(Consent).where(Consent.subject == grant.subject).order_by(Consent.given_at)
        )
        cases = uow.session.scalars(
            select(Case).where(Case.subject == grant.subject).order_by(Case.started_at)
        )
        given = uow.session.execute(
            select(Grant, User.department)
            .join(User, User.id == Grant.requester_id, isouter=True)
            .where(Grant.subject == grant.subject, Grant.purpose != SUBJECT_ACCESS)
            .order_by(Grant.issued_at)
        )
        record_of = {
            "collected_at": iso(subject.created_at),
            "updated_at": iso(subject.updated_at),
            "consents": [
                {
                    "purpose": c.purpose,
                    "text_version": c.text_version,
                    "sensitive": c.sensitive,
                    "given_at": iso(c.given_at),
                }
                for c in consents
            ],
            "cases": [
                {
                    "procedure": c.procedure,
                    "started_at": iso(c.started_at),
                    "completed_at": iso(c.completed_at),
                    "status": c.status,
                    "outcome": c.outcome,
                }
                for c in cases
            ],
            "disclosures": [
                {
                    "department": department,
                    "fields": other.fields,
                    "purpose": other.purpose,
                    "legal_basis": other.legal_basis,
                    "issued_at": iso(other.issued_at),
                    "views": other.views,
                }
                for other, department in given
            ],
        }
        record(
            uow.session,
            actor,
            Event(
                action="subject.access_record",
                case_id=grant.case_id,
                subject=grant.subject,
                purpose=SUBJECT_ACCESS,
                detail={"grant": grant.id},
            ),
            now,
        )
        uow.commit()
        return record_of


def _check(grant: Grant, actor: Actor, wanted: list[str], now: datetime) -> None:
    if grant.requester_id != actor.id:
        raise _refusal(grant.id, grant, "this grant was issued to someone else")
    if aware(grant.expires_at) <= now:
        raise _refusal(
            grant.id, grant, f"the grant expired at {aware(grant.expires_at).isoformat()}"
        )
    if grant.views >= grant.max_views:
        raise _refusal(grant.id, grant, f"the grant's {grant.max_views} views are used up")
    outside = sorted(set(wanted) - set(grant.fields))
    if outside:
        raise _refusal(grant.id, grant, f"the grant does not cover {outside}")


def _refusal(grant_id: str, grant: Grant | None, reason: str) -> Refusal:
    return Refusal(
        reason,
        Event(
            action="subject.read",
            outcome="refused",
            reason=reason,
            case_id=grant.case_id if grant else None,
            subject=grant.subject if grant else None,
            purpose=grant.purpose if grant else None,
            detail={"grant": grant_id[:40]},
        ),
    )


def _summary(grant: Grant, *, deleted: bool = False) -> dict[str, Any]:
    return {
        "id": grant.id,
        "case_id": grant.case_id,
        "fields": grant.fields,
        "purpose": grant.purpose,
        "legal_basis": grant.legal_basis,
        "issued_at": aware(grant.issued_at).isoformat(),
        "expires_at": aware(grant.expires_at).isoformat(),
        "max_views": grant.max_views,
        "views": grant.views,
        "customer_deleted": deleted,
    }
