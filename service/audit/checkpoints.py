"""Use cases around signed checkpoints: make one, list them, serve proofs.

A checkpoint extends the previous one's Merkle compact range with only the
records appended since, so the beat job's cost follows the new records, not
the size of the log. Proofs need the leaves up to the checkpoint's size: the
live records' chain hashes plus the kept hashes of pruned records.
"""

from __future__ import annotations

import base64
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.access.service import Actor
from service.audit import merkle
from service.audit.chain import GENESIS
from service.audit.checkpoint import TreeHead, key_id_for, public_key_to_pem, sign_tree_head
from service.audit.log import check_contiguous, head_seq, leaves_upto, stored_hashes
from service.audit.models import AuditCheckpoint, AuditRecord
from service.audit.service import hashed_fields
from service.deps import Deps
from service.errors import Invalid, NotFound
from service.signing import load_signing_key

AUDIT_READERS = frozenset({"auditor", "compliance", "admin"})


def make_checkpoint(deps: Deps) -> dict[str, Any] | None:
    """Sign a tree head over every committed record; None when nothing is new."""
    key = load_signing_key(deps.settings)
    with deps.unit_of_work() as uow:
        last = latest_checkpoint(uow.session)
        accumulator = _resume(last)
        size = head_seq(uow.session)
        if size <= accumulator.size:
            return None
        hashes = stored_hashes(uow.session, accumulator.size, size)
        check_contiguous(hashes, accumulator.size, size)
        for _, stored in hashes:
            accumulator.append(merkle.leaf_hash(stored))
        row = _signed_row(key, (last.n + 1) if last else 1, accumulator, deps)
        uow.session.add(row)
        try:
            uow.commit()
        except IntegrityError:
            return None  # another worker made this checkpoint first
        return checkpoint_view(row)


def _resume(last: AuditCheckpoint | None) -> merkle.MerkleAccumulator:
    if last is None:
        return merkle.MerkleAccumulator()
    roots = [bytes.fromhex(root) for root in last.subtree_roots]
    return merkle.MerkleAccumulator.resume(last.tree_size, roots)


def _signed_row(
    key: Any, n: int, accumulator: merkle.MerkleAccumulator, deps: Deps
) -> AuditCheckpoint:
    timestamp = deps.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    head = TreeHead(accumulator.size, accumulator.root(), timestamp, key_id_for(key.public_key()))
    return AuditCheckpoint(
        n=n,
        tree_size=head.tree_size,
        root_hash=head.root_hash,
        timestamp=head.timestamp,
        key_id=head.key_id,
        signature=sign_tree_head(key, head),
        subtree_roots=[root.hex() for root in accumulator.subtree_roots],
    )


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.n.desc()).limit(1))


def checkpoint_view(row: AuditCheckpoint) -> dict[str, Any]:
    return {
        "n": row.n,
        "tree_size": row.tree_size,
        "root_hash": row.root_hash.hex(),
        "timestamp": row.timestamp,
        "key_id": row.key_id,
        "signature": base64.b64encode(row.signature).decode(),
    }


def head_from_view(view: dict[str, Any]) -> tuple[TreeHead, bytes]:
    """A tree head and signature back from `checkpoint_view` JSON (untrusted input)."""
    head = TreeHead(
        int(view["tree_size"]), bytes.fromhex(view["root_hash"]), view["timestamp"], view["key_id"]
    )
    return head, base64.b64decode(view["signature"], validate=True)


def list_checkpoints(deps: Deps, actor: Actor, limit: int, before: int | None) -> dict[str, Any]:
    require_audit_reader(actor)
    with deps.unit_of_work() as uow:
        query = select(AuditCheckpoint).order_by(AuditCheckpoint.n.desc()).limit(limit)
        if before is not None:
            query = query.where(AuditCheckpoint.n < before)
        views = [checkpoint_view(row) for row in uow.session.scalars(query)]
    key = load_signing_key(deps.settings).public_key()
    return {
        "checkpoints": views,
        "public_key_pem": public_key_to_pem(key).decode(),
    }


def inclusion(deps: Deps, actor: Actor, seq: int, checkpoint_n: int | None) -> dict[str, Any]:
    """The record, its chain link and its audit path to a checkpoint (latest by default)."""
    require_audit_reader(actor)
    with deps.unit_of_work() as uow:
        checkpoint = _checkpoint(uow.session, checkpoint_n)
        if not 1 <= seq <= checkpoint.tree_size:
            raise Invalid.field(
                "seq", f"not in checkpoint {checkpoint.n} (1..{checkpoint.tree_size})"
            )
        row = uow.session.get(AuditRecord, seq)
        if row is None:
            raise NotFound(f"record {seq} is not in the live log (archived and pruned?)")
        leaves = leaves_upto(uow.session, checkpoint.tree_size)
        previous = uow.session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq - 1))
        return {
            "seq": seq,
            "record": hashed_fields(row),
            "prev_hash": bytes(previous or _pruned_prev(uow.session, seq)).hex(),
            "record_hash": row.hash.hex(),
            "leaf_index": seq - 1,
            "path": [node.hex() for node in merkle.inclusion_proof(leaves, seq - 1)],
            "checkpoint": checkpoint_view(checkpoint),
        }


def _pruned_prev(session: Session, seq: int) -> bytes:
    if seq == 1:
        return GENESIS
    hashes = stored_hashes(session, seq - 2, seq - 1)
    return hashes[0][1] if hashes else GENESIS


def consistency(deps: Deps, actor: Actor, n: int, from_n: int) -> dict[str, Any]:
    """Proof that checkpoint ``n`` extends checkpoint ``from_n``."""
    require_audit_reader(actor)
    with deps.unit_of_work() as uow:
        newer, older = _checkpoint(uow.session, n), _checkpoint(uow.session, from_n)
        if older.tree_size > newer.tree_size:
            raise Invalid.field("from", f"checkpoint {from_n} is larger than checkpoint {n}")
        leaves = leaves_upto(uow.session, newer.tree_size)
        proof = merkle.consistency_proof(leaves, older.tree_size)
        return {
            "from": checkpoint_view(older),
            "to": checkpoint_view(newer),
            "path": [node.hex() for node in proof],
        }


def _checkpoint(session: Session, n: int | None) -> AuditCheckpoint:
    row = latest_checkpoint(session) if n is None else session.get(AuditCheckpoint, n)
    if row is None:
        raise NotFound("no such checkpoint" if n is not None else "no checkpoint yet")
    return row


def require_audit_reader(actor: Actor) -> None:
    from service.errors import Forbidden

    if not actor.roles & AUDIT_READERS:
        raise Forbidden("the audit trail is open to auditor, compliance and admin roles only")
