"""Verifying the live log: chain, checkpoints, and the tail.

One pass in seq order: each record's chain hash is recomputed from its fields
(its digest read by `service.audit.stream`; a change, removal,
insertion or reordering breaks it at that record), its
leaf feeds a Merkle accumulator, and each checkpoint's root is compared when
the accumulator reaches its size (a chain rewritten from some record on
differs from the signed root). Finally the tail is checked against the chain
head row and the latest checkpoint (a cut-off tail is missing records).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.service import Actor
from service.audit import merkle
from service.audit.chain import GENESIS, verify_digest_chain
from service.audit.checkpoint import TreeHead, verify_tree_head
from service.audit.log import BATCH, head_seq, pruned_hashes
from service.audit.models import AuditCheckpoint
from service.audit.service import Event, record
from service.audit.stream import StrictEncoding, iter_digests
from service.deps import Deps
from service.signing import SigningKeyMissing, load_signing_key


@dataclass
class VerifyReport:
    ok: bool
    records: int = 0
    pruned: int = 0
    checkpoints: int = 0
    first_bad_seq: int | None = None
    reason: str | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"records_per_s": round(self.records_per_s)}

    def fail(self, seq: int | None, reason: str) -> VerifyReport:
        if self.ok:
            self.ok, self.first_bad_seq, self.reason = False, seq, reason
        self.problems.append(reason)
        return self


def verify_live(deps: Deps) -> VerifyReport:
    """Verify the whole live log (what `datasteward audit verify` and the bench call)."""
    try:
        public_key: Ed25519PublicKey | None = load_signing_key(deps.settings).public_key()
    except SigningKeyMissing:
        public_key = None  # no key, so no checkpoint can have been made by this service
    started = time.perf_counter()
    with deps.unit_of_work() as uow:
        report = verify_session(uow.session, public_key)
    report.seconds = time.perf_counter() - started
    return report


def verify_session(session: Session, public_key: Ed25519PublicKey | None) -> VerifyReport:
    report = VerifyReport(ok=True)
    checkpoints = _checked_checkpoints(session, public_key, report)
    walk = _Walk(report, checkpoints)
    walk.add_pruned(pruned_hashes(session))
    if report.ok:
        walk.add_live(session)
    if report.ok:
        _check_tail(session, walk, checkpoints, report)
    return report


def _checked_checkpoints(
    session: Session, public_key: Ed25519PublicKey | None, report: VerifyReport
) -> list[AuditCheckpoint]:
    rows = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.n)))
    report.checkpoints = len(rows)
    previous = 0
    for row in rows:
        head = TreeHead(row.tree_size, bytes(row.root_hash), row.timestamp, row.key_id)
        if public_key is None or not verify_tree_head(public_key, head, bytes(row.signature)):
            report.fail(None, f"checkpoint {row.n}: signature invalid")
        if row.tree_size < previous:
            report.fail(None, f"checkpoint {row.n}: smaller than the checkpoint before it")
        previous = row.tree_size
    return rows


class _Walk:
    """Chain and Merkle state while records stream past in seq order."""

    def __init__(self, report: VerifyReport, checkpoints: list[AuditCheckpoint]) -> None:
        self.report = report
        self.accumulator = merkle.MerkleAccumulator()
        self.pending = [c for c in checkpoints if c.tree_size > 0]
        self.prev_seq, self.prev_hash = 0, GENESIS
        self.matched_size = 0  # size of the last checkpoint whose root matched

    def add_pruned(self, hashes: list[tuple[int, bytes]]) -> None:
        # Pruned records' contents are in the archive (verify-archive); here
        # only their order and their place in the checkpoints can be checked.
        for count, (seq, _) in enumerate(hashes):
            if seq != self.prev_seq + count + 1:
                self._leaves(hashes[:count])
                missing = self.prev_seq + 1
                self.report.fail(missing, f"pruned record {missing} missing")
                return
        self._leaves(hashes)
        self.report.pruned = len(hashes)

    def add_live(self, session: Session) -> None:
        batch: list[tuple[int, bytes, bytes]] = []
        strict = StrictEncoding(session)
        # From the start, not after the pruned records: a live row under a
        # pruned seq is an insertion the chain must report.
        for entry in iter_digests(session, after_seq=0):
            batch.append(entry)
            if len(batch) == BATCH:
                if not self._check_batch(batch, strict):
                    return
                batch = []
        if batch:
            self._check_batch(batch, strict)

    def _check_batch(self, batch: list[tuple[int, bytes, bytes]], strict: StrictEncoding) -> bool:
        chain = verify_digest_chain(
            batch,
            self.prev_hash,
            self.prev_seq + 1,
            recheck=strict,
        )
        if not self._leaves([(seq, stored) for seq, _, stored in batch[: chain.checked]]):
            return False
        self.report.records += chain.checked
        if not chain.ok:
            self.report.fail(chain.first_bad_seq, chain.reason or "chain broken")
        return chain.ok

    def _leaves(self, hashes: list[tuple[int, bytes]]) -> bool:
        """Feed verified records' chain hashes to the Merkle tree, checking each checkpoint met.

        Only the records up to the largest checkpoint are hashed into the tree:
        past it there is no signed root to compare with.
        """
        start = 0
        while self.pending and start < len(hashes):
            upto = self.pending[0].tree_size - self.accumulator.size
            if upto <= 0:
                break  # a checkpoint smaller than the one before it, reported already
            chunk = hashes[start : start + upto]
            self.accumulator.extend([merkle.leaf_hash(stored) for _, stored in chunk])
            start += len(chunk)
            if not self._checkpoints_met():
                self.prev_seq, self.prev_hash = chunk[-1]
                return False
        if hashes:
            self.prev_seq, self.prev_hash = hashes[-1]
        return True

    def _checkpoints_met(self) -> bool:
        while self.pending and self.pending[0].tree_size == self.accumulator.size:
            checkpoint = self.pending.pop(0)
            if self.accumulator.root() != bytes(checkpoint.root_hash):
                # The previous checkpoint matched, so the rewrite starts after it.
                low = self.matched_size + 1
                self.report.fail(
                    low,
                    f"records {low} to {checkpoint.tree_size} differ from signed checkpoint"
                    f" {checkpoint.n} (history rewritten)",
                )
                return False
            self.matched_size = checkpoint.tree_size
        return True


def _check_tail(
    session: Session, walk: _Walk, checkpoints: list[AuditCheckpoint], report: VerifyReport
) -> None:
    last = walk.prev_seq
    expected = max([head_seq(session), *(c.tree_size for c in checkpoints)])
    if expected > last:
        report.fail(last + 1, f"log truncated: records {last + 1} to {expected} missing")


def verify_for(deps: Deps, actor: Actor) -> dict[str, Any]:
    """Verify the live log on someone's request (the UI's "verify" button); the check is audited."""
    report = verify_live(deps)
    with deps.unit_of_work() as uow:
        record(
            uow.session,
            actor,
            Event(
                action="audit.verify",
                outcome="done" if report.ok else "failed",
                reason=report.reason,
                detail={"records": report.records, "checkpoints": report.checkpoints},
            ),
            deps.now(),
        )
        uow.commit()
    return report.as_dict()
