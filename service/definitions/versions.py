"""Version lifecycle: draft, save, submit, approve or reject, publish, retire.

Four eyes: compliance approves a version only if they did not author it, and
approval names the exact content hash; publishing re-hashes the content and
refuses anything but the approved bytes. Content is frozen from submission on.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.access.service import Actor
from service.audit.service import Event, Refusal, record, records_refusals
from service.cases import duties
from service.db import UnitOfWork
from service.definitions.checks import check_forms, content_report, has_errors, unreadable
from service.definitions.models import ProcedureVersion
from service.definitions.service import compile_version, content_hash, published_version
from service.definitions.views import history_view, version_view
from service.deps import Deps
from service.errors import Conflict, Forbidden, Invalid, NotFound

READ_ROLES = frozenset({"process_owner", "compliance", "auditor", "admin"})
PUBLISH_ROLES = frozenset({"process_owner", "compliance"})
MAX_SUMMARY = 500
MAX_COMMENT = 2000


@records_refusals
def list_versions(deps: Deps, actor: Actor, procedure: str) -> list[dict[str, Any]]:
    need_role(actor, READ_ROLES, "version.list", procedure=procedure)
    with deps.unit_of_work() as uow:
        versions = list(
            uow.session.scalars(
                select(ProcedureVersion)
                .where(ProcedureVersion.procedure == procedure)
                .order_by(ProcedureVersion.number)
            )
        )
        if not versions:
            raise NotFound(f"no procedure {procedure!r}")
        return history_view(uow.session, versions)


@records_refusals
def show_version(deps: Deps, actor: Actor, version_id: int) -> dict[str, Any]:
    with deps.unit_of_work() as uow:
        version = get_version(uow.session, version_id)
        if version.status not in ("published", "retired"):
            need_role(actor, READ_ROLES, "version.show", version=version)
        report = content_report(deps.engine, version.bpmn, version.forms)
        return version_view(uow.session, version, full=True, report=report)


@records_refusals
def version_diagram(deps: Deps, actor: Actor, procedure: str, number: int) -> str:
    with deps.unit_of_work() as uow:
        version = uow.session.scalar(
            select(ProcedureVersion).where(
                ProcedureVersion.procedure == procedure, ProcedureVersion.number == number
            )
        )
        if version is None:
            raise NotFound(f"procedure {procedure!r} has no version {number}")
        if version.status not in ("published", "retired"):
            need_role(actor, READ_ROLES, "version.show", version=version)
        return version.bpmn


@records_refusals
def create_draft(
    deps: Deps, actor: Actor, procedure: str, summary: str, based_on: int | None = None
) -> dict[str, Any]:
    """A new draft whose content is a copy of the published (or the named) version."""
    need_role(actor, {"process_owner"}, "version.create", procedure=procedure)
    with deps.unit_of_work() as uow:
        source = _source(uow.session, procedure, based_on)
        draft = new_draft(uow, deps, actor.id, source, _summary(summary))
        record(uow.session, actor, _event("version.create", draft), deps.now())
        uow.commit()
        return version_view(uow.session, draft)


def new_draft(
    uow: UnitOfWork,
    deps: Deps,
    author_id: int | None,
    source: ProcedureVersion,
    summary: str,
    review_case_id: str | None = None,
) -> ProcedureVersion:
    """Insert a draft copied from `source` (also used by the periodic review)."""
    number = uow.session.scalar(
        select(func.max(ProcedureVersion.number)).where(
            ProcedureVersion.procedure == source.procedure
        )
    )
    draft = ProcedureVersion(
        procedure=source.procedure,
        number=(number or 0) + 1,
        status="draft",
        summary=summary,
        author_id=author_id,
        created_at=deps.now(),
        based_on_id=source.id,
        review_case_id=review_case_id,
    )
    _set_content(deps, draft, source.bpmn, dict(source.forms))
    uow.session.add(draft)
    uow.session.flush()
    return draft


@records_refusals
def save_draft(
    deps: Deps, actor: Actor, version_id: int, bpmn: str, forms: Any, summary: str | None
) -> dict[str, Any]:
    """Replace a draft's diagram and forms; stored even when the report has errors."""
    problems = unreadable(bpmn)
    if problems:
        raise Invalid("the diagram cannot be read", details=problems)
    forms = check_forms(forms)
    with deps.unit_of_work() as uow:
        version = get_version(uow.session, version_id, lock=True)
        _need_author(actor, version, "version.save")
        if version.status != "draft":
            raise Conflict(f"version {version.number} is {version.status}; only a draft changes")
        report = _set_content(deps, version, bpmn, forms)
        if summary is not None:
            version.summary = _summary(summary)
        event = _event("version.save", version, valid=not has_errors(report))
        record(uow.session, actor, event, deps.now())
        uow.commit()
        return version_view(uow.session, version, report=report)


@records_refusals
def submit_version(deps: Deps, actor: Actor, version_id: int) -> dict[str, Any]:
    with deps.unit_of_work() as uow:
        version = get_version(uow.session, version_id, lock=True)
        _need_author(actor, version, "version.submit")
        if version.status != "draft":
            raise Conflict(f"version {version.number} is {version.status}, not a draft")
        report = _verified_report(deps, version)
        if has_errors(report):
            raise Invalid("the draft has problems; fix them before submitting", details=report)
        version.status, version.submitted_at = "in_review", deps.now()
        record(uow.session, actor, _event("version.submit", version), deps.now())
        uow.commit()
        return version_view(uow.session, version, report=report)


@records_refusals
def approve_version(
    deps: Deps, actor: Actor, version_id: int, comment: str, expected_hash: str | None = None
) -> dict[str, Any]:
    """Compliance approves the exact content hash under review; never its own author."""
    with deps.unit_of_work() as uow:
        version = _reviewable(uow.session, actor, version_id, "version.approve")
        if expected_hash is not None and expected_hash != version.content_hash:
            raise Conflict("the version's content hash is not the one you reviewed")
        report = _verified_report(deps, version)
        if has_errors(report):
            raise Invalid("the version does not validate any more", details=report)
        _reviewed(deps, actor, version, "approved", comment)
        version.approved_hash = version.content_hash
        record(uow.session, actor, _event("version.approve", version), deps.now())
        uow.commit()
        return version_view(uow.session, version, report=report)


@records_refusals
def reject_version(deps: Deps, actor: Actor, version_id: int, comment: str) -> dict[str, Any]:
    if not comment.strip():
        raise Invalid.field("comment", "say why the version is rejected")
    with deps.unit_of_work() as uow:
        version = _reviewable(uow.session, actor, version_id, "version.reject")
        _reviewed(deps, actor, version, "rejected", comment)
        record(uow.session, actor, _event("version.reject", version), deps.now())
        uow.commit()
        return version_view(uow.session, version)


@records_refusals
def publish_version(deps: Deps, actor: Actor, version_id: int) -> dict[str, Any]:
    """Publish exactly the approved bytes; the previously published version is retired."""
    now = deps.now()
    with deps.unit_of_work() as uow:
        version = get_version(uow.session, version_id, lock=True)
        need_role(actor, PUBLISH_ROLES, "version.publish", version=version)
        if version.status != "approved" or not version.approved_hash:
            raise Conflict(f"version {version.number} is {version.status}; only approved publishes")
        if content_hash(version.bpmn, version.forms) != version.approved_hash:
            raise Conflict("the content is not the content that was approved; it cannot publish")
        compile_version(deps.engine, version)
        previous = _current_published(uow.session, version.procedure)
        if previous is not None:
            _retire(uow, deps, actor, previous)
            uow.session.flush()  # the one-published index must see the old one go first
        version.status, version.published_at, version.published_by = "published", now, actor.id
        record(uow.session, actor, _event("version.publish", version), now)
        uow.commit()
        return version_view(uow.session, version)


@records_refusals
def retire_version(deps: Deps, actor: Actor, version_id: int) -> dict[str, Any]:
    with deps.unit_of_work() as uow:
        version = get_version(uow.session, version_id, lock=True)
        need_role(actor, PUBLISH_ROLES, "version.retire", version=version)
        if version.status == "retired":
            raise Conflict(f"version {version.number} is already retired")
        _retire(uow, deps, actor, version)
        uow.commit()
        return version_view(uow.session, version)


# --- helpers -----------------------------------------------------------------------------


def _set_content(
    deps: Deps, version: ProcedureVersion, bpmn: str, forms: dict[str, Any]
) -> list[dict[str, Any]]:
    report = content_report(deps.engine, bpmn, forms)
    version.bpmn, version.forms, version.report = bpmn, forms, report
    version.content_hash = content_hash(bpmn, forms)
    version.diagram_hash = hashlib.sha256(bpmn.encode("utf-8")).hexdigest()
    return report


def _verified_report(deps: Deps, version: ProcedureVersion) -> list[dict[str, Any]]:
    if content_hash(version.bpmn, version.forms) != version.content_hash:
        raise Conflict("the stored content does not match its hash; it was altered")
    return content_report(deps.engine, version.bpmn, version.forms)


def _reviewable(session: Session, actor: Actor, version_id: int, action: str) -> ProcedureVersion:
    version = get_version(session, version_id, lock=True)
    need_role(actor, {"compliance"}, action, version=version)
    try:
        duties.check_not_author(actor, version.author_id)
    except Forbidden as refused:
        raise _refusal(action, f"four eyes: {refused.message}", version) from None
    if version.status != "in_review":
        raise Conflict(f"version {version.number} is {version.status}, not in review")
    return version


def _reviewed(deps: Deps, actor: Actor, version: ProcedureVersion, status: str, comment: str):
    if len(comment) > MAX_COMMENT:
        raise Invalid.field("comment", f"at most {MAX_COMMENT} characters")
    version.status, version.reviewed_by, version.reviewed_at = status, actor.id, deps.now()
    version.review_comment = comment.strip() or None


def _retire(uow: UnitOfWork, deps: Deps, actor: Actor, version: ProcedureVersion) -> None:
    version.status, version.retired_at, version.retired_by = "retired", deps.now(), actor.id
    record(uow.session, actor, _event("version.retire", version), deps.now())


def _current_published(session: Session, procedure: str) -> ProcedureVersion | None:
    try:
        return published_version(session, procedure)
    except NotFound:
        return None


def _source(session: Session, procedure: str, based_on: int | None) -> ProcedureVersion:
    if based_on is None:
        return published_version(session, procedure)
    source = get_version(session, based_on)
    if source.procedure != procedure:
        raise Invalid.field("based_on", f"version {based_on} is not a version of {procedure}")
    return source


def get_version(session: Session, version_id: int, *, lock: bool = False) -> ProcedureVersion:
    query = select(ProcedureVersion).where(ProcedureVersion.id == version_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    version = session.scalar(query)
    if version is None:
        raise NotFound(f"no version {version_id}")
    return version


def _summary(summary: str) -> str:
    if len(summary) > MAX_SUMMARY:
        raise Invalid.field("summary", f"at most {MAX_SUMMARY} characters")
    return summary.strip()


def need_role(
    actor: Actor,
    roles: set[str] | frozenset[str],
    action: str,
    *,
    version: ProcedureVersion | None = None,
    procedure: str | None = None,
) -> None:
    if not actor.roles & roles:
        reason = f"this needs the role {' or '.join(sorted(roles))}"
        raise _refusal(action, reason, version, procedure)


def _need_author(actor: Actor, version: ProcedureVersion, action: str) -> None:
    need_role(actor, {"process_owner"}, action, version=version)
    if version.author_id is None:
        version.author_id = actor.id  # a draft opened by a periodic review: first editor adopts it
    elif version.author_id != actor.id:
        raise _refusal(action, "only the draft's author changes or submits it", version)


def _refusal(
    action: str,
    reason: str,
    version: ProcedureVersion | None = None,
    procedure: str | None = None,
) -> Refusal:
    event = Event(
        action=action,
        outcome="refused",
        reason=reason,
        procedure=version.procedure if version else procedure,
        version_hash=version.content_hash if version else None,
        detail={"version_id": version.id, "number": version.number} if version else None,
    )
    return Refusal(reason, event)


def _event(action: str, version: ProcedureVersion, **extra: Any) -> Event:
    detail = {"version_id": version.id, "number": version.number, "status": version.status}
    return Event(
        action=action,
        procedure=version.procedure,
        version_hash=version.content_hash,
        detail=detail | extra,
    )
