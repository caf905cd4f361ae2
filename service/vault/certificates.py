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

from service.access.service import Actor, require_permission
from service.audit.service import Event, record_many
from service.deps import Deps
from service.errors import NotFound
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
    issue_all(deps, actor, [request_id])
    return id_for_request(deps, request_id) or ""


def issue_all(deps: Deps, actor: Actor, request_ids: list[str]) -> dict[str, str]:
    """Certify every request of the batch that is at ``data_removed``, in one transaction.

    Returns the certificates issued now by request id; a request certified
    before (a redelivered job) keeps its one certificate.
    """
    now = deps.now()
    issued: dict[str, str] = {}
    with deps.unit_of_work() as uow:
        requests = uow.session.scalars(
            select(DeletionRequest)
            .where(DeletionRequest.id.in_(request_ids), DeletionRequest.state == "data_removed")
            .order_by(DeletionRequest.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        if not requests:
            return issued
        existing = _existing_for(uow.session, [request.id for request in requests])
        key = load_signing_key(deps.settings)
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        for request in requests:
            if request.id in existing:
                continue
            certificate_id = str(uuid.uuid4())
            body = canonical(_body(certificate_id, request, now.isoformat()))
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
            issued[request.id] = certificate_id
        events = [
            _event(request, issued[request.id]) for request in requests if request.id in issued
        ]
        record_many(uow.session, actor, events, now)
        uow.commit()
    return issued


def id_for_request(deps: Deps, request_id: str) -> str | None:
    return ids_for_requests(deps, [request_id]).get(request_id)


def ids_for_requests(deps: Deps, request_ids: list[str]) -> dict[str, str]:
    with deps.db.read_unit_of_work() as uow:
        return _existing_for(uow.session, request_ids)


def show(deps: Deps, actor: Actor, certificate_id: str) -> dict[str, Any]:
    """A certificate as issued, for compliance and auditors, with the server's own check.

    ``body`` is the signed document; its canonical JSON (`canonical`) is what
    ``signature`` covers, so the reply can be checked offline
    (`datasteward certificates verify`) against the service's public key.
    """
    require_permission(actor, "certificate.read")
    with deps.db.read_unit_of_work() as uow:
        row = uow.session.get(DeletionCertificate, certificate_id)
        if row is None:
            raise NotFound(f"no deletion certificate {certificate_id}")
        return {
            "id": row.id,
            "body": json.loads(row.body),
            "signature": row.signature.hex(),
            "public_key": row.public_key.hex(),
            "verified": verify(row.body, row.signature, row.public_key),
        }


def check_document(document: Any, expected_key: bytes) -> list[str]:
    """Problems with a certificate as `show` serves it, checked offline; empty when it holds.

    The signature must be over the body's canonical JSON, by the key the
    certificate names, and that key must be the one ``expected_key`` gives
    (the service's public key, raw bytes): a certificate signed by any other
    key proves nothing.
    """
    if not isinstance(document, dict) or not isinstance(document.get("body"), dict):
        return ["not a certificate as the API serves it: no body object"]
    try:
        body = canonical(document["body"])
        signature = bytes.fromhex(document["signature"])
        public_key = bytes.fromhex(document["public_key"])
    except (TypeError, KeyError, ValueError) as error:
        return [f"not a certificate as the API serves it: {type(error).__name__}: {error}"]
    problems = []
    if document["body"].get("format") != FORMAT:
        problems.append(f"unknown format {document['body'].get('format')!r}")
    if public_key != expected_key:
        problems.append("signed by a key that is not the service's public key")
    try:
        if not verify(body, signature, public_key):
            problems.append("the signature does not match the certificate's content")
    except ValueError as error:  # a key or signature of the wrong length
        problems.append(f"the signature cannot be checked: {error}")
    return problems


def verify(body: str, signature: bytes, public_key: bytes) -> bool:
    """True when the signature over the canonical body is the service key's."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, body.encode("utf-8"))
    except InvalidSignature:
        return False
    return True


def canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _existing_for(session: Any, request_ids: list[str]) -> dict[str, str]:
    rows = session.execute(
        select(DeletionCertificate.request_id, DeletionCertificate.id).where(
            DeletionCertificate.request_id.in_(request_ids)
        )
    )
    return {request_id: certificate_id for request_id, certificate_id in rows}


def _body(certificate_id: str, request: DeletionRequest, issued_at: str) -> dict[str, Any]:
    destroyed = dict(request.destroyed or {})
    destroyed["data_key"] = {
        "kek_version": request.kek_version,
        "destroyed_at": request.key_destroyed_at.isoformat() if request.key_destroyed_at else None,
        # A request reaches data_removed only after the key store was purged
        # (VACUUM, or a truncating WAL checkpoint) following the key's deletion.
        "purged_from_key_store": True,
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
