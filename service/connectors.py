"""The connectors service tasks may name: the only operations a diagram can trigger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service import notifications
from service.access.service import SYSTEM
from service.cases.models import Case
from service.deps import ConnectorContext
from service.engine import ConnectorRegistry
from service.errors import DomainError
from service.vault import changes, grants
from service.vault import service as vault
from service.vault.consents import record_consents


def enter_subject(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Collection 1.3: the reviewed record becomes the subject's live record."""
    subject = params.get("subject") or ctx.subject
    if subject is None or subject != ctx.subject:
        raise ValueError("a case may only enter its own subject")
    vault.enter_subject(ctx.uow, subject, ctx.now)
    if params.get("purpose"):
        record_consents(
            ctx.uow,
            subject=subject,
            purpose=str(params["purpose"]),
            text_version=str(params.get("consent_text_version", "")),
            sensitive=bool(params.get("sensitive_consent_given")),
            case_id=ctx.case_id,
            now=ctx.now,
        )
    return {"entered": True, "subject": subject}


def apply_change(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Update 3.3: the approved change becomes the record; a change-log entry is written."""
    subject = _own_subject(ctx, params)
    keys = ctx.deps.keys
    replaced = changes.apply_change(
        ctx.uow, keys, ctx.actor or SYSTEM, subject, ctx.case_id, ctx.now
    )
    old = replaced.get("mobile")
    if old:
        # The number taken off the record hears of it too (the case tells the new one).
        notifications.notify_previous_number(ctx.uow, keys, subject, ctx.case_id, old, ctx.now)
    return {"changed": sorted(replaced)}


def issue_grant(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Query 4.3: the approved request becomes a grant for its requester, and nothing more."""
    subject = _own_subject(ctx, params)
    requester = ctx.uow.session.get_one(Case, ctx.case_id).started_by
    settings = ctx.deps.settings
    grant = grants.issue_grant(
        ctx.uow,
        case_id=ctx.case_id,
        subject=subject,
        requester_id=requester,
        fields=list(params.get("fields") or []),
        purpose=str(params.get("purpose", "")),
        legal_basis=str(params.get("legal_basis", "")),
        now=ctx.now,
        ttl=timedelta(hours=settings.grant_ttl_hours),
        max_views=settings.grant_max_views,
    )
    return {"grant_id": grant.id, "expires_at": grant.expires_at.isoformat()}


def notify_customer(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Tell the customer the outcome: queued with its number sealed, sent by the delivery job."""
    subject = _own_subject(ctx, params)
    notification = notifications.notify_customer(
        ctx.uow, ctx.deps.keys, subject, str(params.get("template", "")), ctx.case_id, ctx.now
    )
    return {"notification_id": notification}


def _own_subject(ctx: ConnectorContext, params: dict[str, Any]) -> str:
    subject = params.get("subject") or ctx.subject
    if subject is None or subject != ctx.subject:
        raise ValueError("a case may only act on its own subject")
    return str(subject)


def request_shredding(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Deletion 5.3: record the approved deletion and hand it to the deletion worker."""
    from service.jobs import enqueue_job
    from service.vault.shredding import SHRED_JOB
    from service.vault.shredding import request_shredding as record_request

    if ctx.subject is None:
        raise ValueError("the case has no subject to delete")
    request_id = record_request(ctx.uow, ctx.now, ctx.subject, ctx.case_id)
    # The confirmation's number is sealed now: once the key is destroyed it cannot be read.
    notifications.hold_for_deletion(ctx.uow, ctx.deps.keys, ctx.subject, ctx.case_id, ctx.now)
    job_id = enqueue_job(ctx.uow, ctx.deps, SHRED_JOB, {"request_id": request_id})
    return {"job_id": job_id, "deletion_request": request_id}


def gather_review_figures(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Periodic review: the procedure's figures and feedback since the last review."""
    from service.definitions import review

    return review.gather_review_figures(ctx, params)


def record_review_outcome(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Periodic review: "no change" with reasons, or a new draft for compliance review."""
    from service.definitions import review

    return review.record_review_outcome(ctx, params)


def build_registry() -> ConnectorRegistry:
    # A refusal a connector raises (a customer entered meanwhile, say) is the user's 4xx.
    registry = ConnectorRegistry(passthrough=(DomainError,))
    registry.register("vault.enter_subject", enter_subject, touches_personal_data=True)
    registry.register("vault.request_shredding", request_shredding, touches_personal_data=True)
    registry.register("vault.apply_change", apply_change, touches_personal_data=True)
    registry.register("vault.issue_grant", issue_grant, touches_personal_data=True)
    registry.register("notify.customer", notify_customer)
    registry.register("definitions.gather_review_figures", gather_review_figures)
    registry.register("definitions.record_review_outcome", record_review_outcome)
    return registry
