"""The connectors service tasks may name: the only operations a diagram can trigger."""

from __future__ import annotations

from typing import Any

from service.deps import ConnectorContext
from service.engine import ConnectorRegistry
from service.vault import service as vault


def enter_subject(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Collection 1.3: the reviewed record becomes the subject's live record."""
    subject = params.get("subject") or ctx.subject
    if subject is None or subject != ctx.subject:
        raise ValueError("a case may only enter its own subject")
    vault.enter_subject(ctx.uow, subject, ctx.now)
    return {"entered": True, "subject": subject}


def build_registry() -> ConnectorRegistry:
    registry = ConnectorRegistry()
    registry.register("vault.enter_subject", enter_subject, touches_personal_data=True)
    return registry
