"""Procedure versions: loading the shipped procedures, finding the published one.

A version is a diagram plus its forms, identified by the SHA-256 of both. The
drafting, review and publishing workflow builds on these functions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.access.service import ROLES
from service.definitions.models import ProcedureVersion
from service.engine import CompiledDiagram, Engine
from service.errors import NotFound

FORM_SUFFIX = ".schema.json"


@dataclass(frozen=True)
class ProcedureFiles:
    procedure: str
    bpmn: str
    forms: dict[str, Any]


def read_procedure_folder(folder: Path) -> ProcedureFiles:
    """A procedure as shipped: ``<name>/<name>.bpmn`` and ``<name>/forms/*.schema.json``."""
    bpmn = (folder / f"{folder.name}.bpmn").read_text(encoding="utf-8")
    forms = {
        path.name.removesuffix(FORM_SUFFIX): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((folder / "forms").glob(f"*{FORM_SUFFIX}"))
    }
    return ProcedureFiles(folder.name, bpmn, forms)


def shipped_procedures(processes_dir: Path) -> list[ProcedureFiles]:
    return [
        read_procedure_folder(folder)
        for folder in sorted(processes_dir.iterdir())
        if (folder / f"{folder.name}.bpmn").is_file()
    ]


def content_hash(bpmn: str, forms: dict[str, Any]) -> str:
    canonical = json.dumps({"bpmn": bpmn, "forms": forms}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def compile_version(engine: Engine, version: ProcedureVersion) -> CompiledDiagram:
    """The version's parsed diagram; the engine caches it by content hash."""
    return engine.compile(version.bpmn.encode("utf-8"), roles=set(ROLES), forms=set(version.forms))


def diagram_for(
    engine: Engine, content_hash: str, load: Callable[[], ProcedureVersion]
) -> CompiledDiagram:
    """The compiled diagram of the version with this content hash, compiled once and kept.

    ``load`` gives the version (with its diagram text) only when it was not compiled yet.
    """
    diagram = engine.for_version(content_hash)
    if diagram is None:
        diagram = compile_version(engine, load())
        engine.remember_version(content_hash, diagram)
    return diagram


def install_shipped(
    session: Session, engine: Engine, processes_dir: Path, now: datetime
) -> list[str]:
    """Load each shipped procedure that has no version yet as its first published version."""
    installed = []
    for files in shipped_procedures(processes_dir):
        exists = session.scalar(
            select(func.count()).where(ProcedureVersion.procedure == files.procedure)
        )
        if exists:
            continue
        engine.compile(files.bpmn.encode("utf-8"), roles=set(ROLES), forms=set(files.forms))
        session.add(_published(files, now))
        installed.append(files.procedure)
    return installed


def _published(files: ProcedureFiles, now: datetime) -> ProcedureVersion:
    return ProcedureVersion(
        procedure=files.procedure,
        number=1,
        status="published",
        content_hash=content_hash(files.bpmn, files.forms),
        diagram_hash=hashlib.sha256(files.bpmn.encode("utf-8")).hexdigest(),
        bpmn=files.bpmn,
        forms=files.forms,
        summary="Shipped version",
        created_at=now,
        published_at=now,
    )


def published_version(session: Session, procedure: str) -> ProcedureVersion:
    version = session.scalar(
        select(ProcedureVersion).where(
            ProcedureVersion.procedure == procedure, ProcedureVersion.status == "published"
        )
    )
    if version is None:
        raise NotFound(f"procedure {procedure!r} has no published version")
    return version


def list_procedures(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ProcedureVersion.procedure, ProcedureVersion.number, ProcedureVersion.content_hash)
        .where(ProcedureVersion.status == "published")
        .order_by(ProcedureVersion.procedure)
    ).all()
    return [{"procedure": p, "version": n, "content_hash": h} for p, n, h in rows]
