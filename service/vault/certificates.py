"""Deletion certificates: a signed statement of what was destroyed, when, and why.

The body is canonical JSON (sorted keys, no spaces); the Ed25519 signature is
over its UTF-8 bytes, so anyone holding the service's public key can check a
certificate offline with `verify`.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from service.access.service import Actor
from service.audit.service import Event, record
from service.deps import Deps
from service.signing import load_signing_key
from service.vault.models import DeletionCertificate, DeletionRequest

FORMAT = "datasteward.deletion-certificate.v1"
# What crypto-shredding made unreadable: every copy sealed under the destroyed key.
UNREADABLE_COPIES = (
    "data database rows, including its write-ahead log, replicas and backups",
    "proof documents in the file store and its backups",
    "encrypted audit details (live and archived)",
    "cached values",
)
KEY_STORE_NOTE = (
    "key store backups taken before the deletion still hold the wrapped key, sealed under "
    "the key-encryption key version named here; they become unreadable when that version "
    "is retired (`datasteward keys rotate`, then `datasteward keys retire`)"
)


def issue(deps: Deps, actor: Actor, request_id: str) -> str:
    """Write the request's one certificate (in the same transaction as its state change)."""
    now = deps.now()
    key = load_signing_key(deps.settings)
    with deps.unit_of_work() as uow:
        request = uow.session.scalars(
            select(DeletionRequest).where(DeletionRequest.id == request_id).with_for_update()
        ).one()
        existing = _existing(uow.session, request_id)
        if request.state != "data_removed" or existing:
            return existing or ""
        certificate_id = str(uuid.uuid4())
        body = canonical(_body(certificate_id, request, now.isoformat()))
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        uow.session.add(
            DeletionCertificate(
                id=certificate_id,
                request_id=request.id,
                subject=request.subject,
                case_id=request.case_id,
                issued_at=now,
                body=body,
                signature=key.sign(body.encode("utf-8")),
                public_key=public,
            )
        )
        request.state, request.updated_at = "certified", now
        record(uow.session, actor, _event(request, certificate_id), now)
        uow.commit()
        return certificate_id


def id_for_request(deps: Deps, request_id: str) -> str | None:
    with deps.unit_of_work() as uow:
        return _existing(uow.session, request_id)


def show(deps: Deps, certificate_id: str) -> dict[str, Any]:
    with deps.unit_of_work() as uow:
        row = uow.session.get_one(DeletionCertificate, certificate_id)
        return {
            "body": json.loads(row.body),
            "signature": row.signature.hex(),
            "public_key": row.public_key.hex(),
        }


def verify(body: str, signature: bytes, public_key: bytes) -> bool:
    """True when the signature over the canonical body is the service key's."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, body.encode("utf-8"))
    except InvalidSignature:
        return False
    return True


def canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _existing(session: Any, request_id: str) -> str | None:
    return session.scalar(
        select(DeletionCertificate.id).where(DeletionCertificate.request_id == request_id)
    )


def _body(certificate_id: str, request: DeletionRequest, issued_at: str) -> dict[str, Any]:
    destroyed = dict(request.destroyed or {})
    destroyed["data_key"] = {
        "kek_version": request.kek_version,
        "destroyed_at": request.key_destroyed_at.isoformat() if request.key_destroyed_at else None,
    }
    return {
        "format": FORMAT,
        "certificate_id": certificate_id,
        "deletion_request": request.id,
        "case_id": request.case_id,
        "subject": request.subject,
        "approved_at": request.approved_at.isoformat(),
        "issued_at": issued_at,
        "destroyed": destroyed,
        "unreadable_copies": list(UNREADABLE_COPIES),
        "key_store_backups": KEY_STORE_NOTE,
    }


def _event(request: DeletionRequest, certificate_id: str) -> Event:
    return Event(
        action="subject.shredded",
        case_id=request.case_id,
        subject=request.subject,
        detail={"deletion_request": request.id, "certificate_id": certificate_id},
    )
