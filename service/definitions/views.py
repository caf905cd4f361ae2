"""How versions look from outside: the version object of the API contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.access.service import usernames
from service.definitions.models import ProcedureVersion


def version_view(
    session: Session,
    version: ProcedureVersion,
    *,
    full: bool = False,
    report: list[dict[str, Any]] | None = None,
    names: dict[int, str] | None = None,
) -> dict[str, Any]:
    people = [version.author_id, version.reviewed_by, version.published_by, version.retired_by]
    names = names if names is not None else usernames(session, set(people))
    view = {
        "id": version.id,
        "procedure": version.procedure,
        "number": version.number,
        "status": version.status,
        "content_hash": version.content_hash,
        "approved_hash": version.approved_hash,
        "summary": version.summary,
        "author": names.get(version.author_id or 0),
        "created_at": _iso(version.created_at),
        "submitted_at": _iso(version.submitted_at),
        "reviewed_by": names.get(version.reviewed_by or 0),
        "reviewed_at": _iso(version.reviewed_at),
        "review_comment": version.review_comment,
        "published_by": names.get(version.published_by or 0),
        "published_at": _iso(version.published_at),
        "retired_by": names.get(version.retired_by or 0),
        "retired_at": _iso(version.retired_at),
        "based_on": version.based_on_id,
        "review_case_id": version.review_case_id,
        "report": report if report is not None else (version.report or []),
    }
    if full:
        view |= {"bpmn": version.bpmn, "forms": version.forms}
    return view


def history_view(session: Session, versions: list[ProcedureVersion]) -> list[dict[str, Any]]:
    ids: set[int | None] = set()
    for v in versions:
        ids |= {v.author_id, v.reviewed_by, v.published_by, v.retired_by}
    names = usernames(session, ids)
    return [version_view(session, v, names=names) for v in versions]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
