"""Archiving the audit log: seal closed segments, write, verify, mark, prune.

Each segment row moves forward through ``sealed -> written -> archived ->
pruned``, one transaction per step, so a worker killed anywhere leaves a
state the next run resumes from; every step is idempotent (the archive bytes
are deterministic and written under a temporary name, then renamed).

Pruning deletes live records of archived segments older than the retention
period, oldest segment first, after keeping each record's chain hash in
``audit_pruned_leaves``: the chain resumes from the last of them and every
checkpoint can still be recomputed. On PostgreSQL the DELETE passes the
append-only trigger only through ``SET LOCAL datasteward.audit_prune = 'on'``
and only for records of archived segments whose hashes are kept.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from service.access.service import SYSTEM
from service.audit import merkle
from service.audit.archive_format import (
    FORMAT,
    data_name,
    manifest_name,
    pack_records,
    sign_manifest,
    verify_segment,
)
from service.audit.archive_store import ArchiveStore, LocalArchiveStore
from service.audit.checkpoints import checkpoint_view, latest_checkpoint, make_checkpoint
from service.audit.log import iter_entries, leaves_upto, stored_hashes
from service.audit.models import AuditCheckpoint, AuditPrunedLeaf, AuditRecord, AuditSegment
from service.audit.service import Event, record
from service.deps import Deps
from service.signing import load_signing_key


def store_for(deps: Deps) -> ArchiveStore:
    return deps.extras.get("archive_store") or LocalArchiveStore(deps.settings.archive_dir)


def run_archiving(deps: Deps) -> dict[str, int]:
    """The daily job: checkpoint, seal, write and verify, prune. Safe to rerun."""
    make_checkpoint(deps)
    sealed = seal_segments(deps)
    archived = 0
    for segment_id in _segments_in(deps, ("sealed", "written")):
        archive_segment(deps, segment_id)
        archived += 1
    return {"sealed": sealed, "archived": archived, "pruned": prune_expired(deps)}


def seal_segments(deps: Deps) -> int:
    """Cut the checkpointed records of closed UTC days into segments; returns how many."""
    today = deps.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with deps.unit_of_work() as uow:
        checkpoint = latest_checkpoint(uow.session)
        if checkpoint is None:
            return 0
        start = uow.session.scalar(select(func.max(AuditSegment.last_seq))) or 0
        rows = uow.session.execute(
            select(AuditRecord.seq, AuditRecord.at)
            .where(AuditRecord.seq > start, AuditRecord.seq <= checkpoint.tree_size)
            .order_by(AuditRecord.seq)
        ).all()
        runs = _day_runs(rows, today, deps.settings.archive_segment_max_records)
        next_id = (uow.session.scalar(select(func.max(AuditSegment.id))) or 0) + 1
        for offset, (first, last, last_at) in enumerate(runs):
            uow.session.add(
                _segment(next_id + offset, first, last, last_at, checkpoint, deps.now())
            )
        uow.commit()
    return len(runs)


def _day_runs(rows: Any, today: datetime, max_records: int) -> list[tuple[int, int, datetime]]:
    """Consecutive records of one closed UTC day, at most ``max_records`` per run."""
    runs: list[list[Any]] = []  # [first_seq, last_seq, last_at]
    for seq, at in rows:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if at >= today:
            break  # today is still open
        current = runs[-1] if runs else None
        if current is None or at.date() != current[2].date() or seq - current[0] >= max_records:
            runs.append([seq, seq, at])
        else:
            current[1], current[2] = seq, at
    return [(first, last, last_at) for first, last, last_at in runs]


def _segment(
    n: int, first: int, last: int, last_at: datetime, checkpoint: AuditCheckpoint, now: datetime
) -> AuditSegment:
    return AuditSegment(
        id=n,
        first_seq=first,
        last_seq=last,
        day=last_at.astimezone(UTC).date().isoformat(),
        last_at=last_at,
        status="sealed",
        checkpoint_n=checkpoint.n,
        object_name=data_name(n),
        updated_at=now,
    )


def _segments_in(deps: Deps, statuses: tuple[str, ...]) -> list[int]:
    with deps.unit_of_work() as uow:
        return list(
            uow.session.scalars(
                select(AuditSegment.id)
                .where(AuditSegment.status.in_(statuses))
                .order_by(AuditSegment.id)
            )
        )


def archive_segment(deps: Deps, segment_id: int) -> str:
    """Write (if needed) and verify one segment, then mark it archived."""
    store = store_for(deps)
    with deps.unit_of_work() as uow:
        segment = uow.session.get_one(AuditSegment, segment_id)
        if segment.status == "sealed" or (
            segment.status == "written" and not store.exists(manifest_name(segment.id))
        ):
            _write(uow.session, deps, store, segment)
            segment.status, segment.updated_at = "written", deps.now()
            uow.commit()
    with deps.unit_of_work() as uow:
        segment = uow.session.get_one(AuditSegment, segment_id)
        if segment.status == "written":
            _verify_written(deps, store, segment)
            segment.status, segment.updated_at = "archived", deps.now()
            _record(uow.session, deps, "audit.archive", segment)
            uow.commit()
        return segment.status


def _write(session: Session, deps: Deps, store: ArchiveStore, segment: AuditSegment) -> None:
    entries = list(iter_entries(session, segment.first_seq - 1, segment.last_seq))
    data = pack_records(entries)
    manifest = _manifest(session, segment, entries, data)
    key = load_signing_key(deps.settings)
    store.put(data_name(segment.id), data)
    # The manifest goes last: its presence means the segment is complete.
    document = sign_manifest(key, manifest)
    store.put(manifest_name(segment.id), document)
    segment.manifest_sha256 = hashlib.sha256(document).hexdigest()


def _manifest(
    session: Session, segment: AuditSegment, entries: list[Any], data: bytes
) -> dict[str, Any]:
    checkpoint = session.get_one(AuditCheckpoint, segment.checkpoint_n)
    leaves = leaves_upto(session, checkpoint.tree_size)
    previous = stored_hashes(session, segment.first_seq - 2, segment.first_seq - 1)
    return {
        "format": FORMAT,
        "segment": segment.id,
        "day": segment.day,
        "first_seq": segment.first_seq,
        "last_seq": segment.last_seq,
        "record_count": len(entries),
        "prev_hash": (previous[0][1] if previous else bytes(32)).hex(),
        "last_hash": entries[-1][2].hex(),
        "data_object": data_name(segment.id),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "checkpoint": checkpoint_view(checkpoint),
        "inclusion_path": [
            node.hex() for node in merkle.inclusion_proof(leaves, segment.last_seq - 1)
        ],
    }


def _verify_written(deps: Deps, store: ArchiveStore, segment: AuditSegment) -> None:
    public_key = load_signing_key(deps.settings).public_key()
    check = verify_segment(
        store.get(manifest_name(segment.id)), store.get, public_key, str(segment.id)
    )
    if not check.ok:
        raise ArchiveFailed("; ".join(check.problems))


class ArchiveFailed(RuntimeError):
    """A written archive did not verify; the segment stays 'written' and is retried."""


def prune_expired(deps: Deps) -> int:
    """Prune archived segments older than the retention period, oldest first."""
    cutoff = deps.now() - timedelta(days=deps.settings.audit_retention_days)
    pruned = 0
    with deps.unit_of_work() as uow:
        segments = uow.session.scalars(
            select(AuditSegment).where(AuditSegment.status != "pruned").order_by(AuditSegment.id)
        ).all()
        for segment in segments:
            last_at = (
                segment.last_at if segment.last_at.tzinfo else segment.last_at.replace(tzinfo=UTC)
            )
            if segment.status != "archived" or last_at >= cutoff:
                break  # keep order: the chain anchor is the last pruned record
            _prune(uow, deps, segment)
            pruned += 1
        uow.commit()
    return pruned


def _prune(uow: Any, deps: Deps, segment: AuditSegment) -> None:
    session = uow.session
    in_range = AuditRecord.seq.between(segment.first_seq, segment.last_seq)
    session.execute(
        insert(AuditPrunedLeaf).from_select(
            ["seq", "hash"], select(AuditRecord.seq, AuditRecord.hash).where(in_range)
        )
    )
    if uow.is_postgres:
        session.execute(text("SET LOCAL datasteward.audit_prune = 'on'"))
    session.execute(delete(AuditRecord).where(in_range))
    if uow.is_postgres:
        session.execute(text("SET LOCAL datasteward.audit_prune = 'off'"))
    segment.status, segment.updated_at = "pruned", deps.now()
    _record(session, deps, "audit.prune", segment)


def _record(session: Session, deps: Deps, action: str, segment: AuditSegment) -> None:
    detail = {"segment": segment.id, "first_seq": segment.first_seq, "last_seq": segment.last_seq}
    record(session, SYSTEM, Event(action, detail=detail), deps.now())


def segment_statuses(deps: Deps) -> list[dict[str, Any]]:
    with deps.unit_of_work() as uow:
        rows = uow.session.scalars(select(AuditSegment).order_by(AuditSegment.id)).all()
        return [
            {
                "id": s.id,
                "first_seq": s.first_seq,
                "last_seq": s.last_seq,
                "day": s.day,
                "status": s.status,
                "object": s.object_name,
            }
            for s in rows
        ]
