"""The audit trail and crypto-shredding on their own, one worker each."""

from __future__ import annotations

import importlib
import time
from typing import Any

from service.access.service import Actor
from service.audit.service import Event, record
from service.deps import Deps


def audit_append_per_s(deps: Deps, actor: Actor, count: int) -> float:
    """Appends, one record per transaction as a use case writes it."""
    event = Event(action="bench.append", purpose="benchmark")
    began = time.perf_counter()
    for _ in range(count):
        with deps.unit_of_work() as uow:
            record(uow.session, actor, event, deps.now())
            uow.commit()
    return count / (time.perf_counter() - began)


def audit_verify_per_s(deps: Deps) -> tuple[float, int]:
    """The audit team's full verification of the live log (chain, checkpoints, tail)."""
    verify = _optional("service.audit.verify", "verify_live")
    if verify is None:
        raise LookupError("service.audit has no verify_live use case yet")
    report = verify(deps)
    if not report.ok:
        raise RuntimeError(f"the audit log does not verify: {report.reason}")
    return report.records / report.seconds, report.records


def shred_available() -> bool:
    return _optional("service.vault.shredding", "shred_job") is not None


def shred_per_s(deps: Deps, actor: Actor, subjects: list[str]) -> float:
    """Approved deletions run to their certificates by one worker, timed; approving them is not.

    Each request gets the job the deletion worker runs for it (`shred_job`,
    what the Celery task calls), in approval order: real key destruction,
    key-store purge, removal and signed certificates, batched as the worker
    batches them; the jobs that find their request already done are timed too.
    """
    shred = _optional("service.vault.shredding", "shred_job")
    request = _optional("service.vault.shredding", "request_shredding")
    if shred is None or request is None:
        raise LookupError("service.vault has no shred use case yet")
    with deps.unit_of_work() as uow:
        request_ids = [request(uow, deps.now(), subject, None) for subject in subjects]
        uow.commit()
    began = time.perf_counter()
    for request_id in request_ids:
        if shred(deps, actor, request_id) is None:
            raise RuntimeError(f"deletion request {request_id} was not certified")
    return len(subjects) / (time.perf_counter() - began)


def _optional(module: str, name: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
