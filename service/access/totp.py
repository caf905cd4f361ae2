"""TOTP second factor (RFC 6238, via pyotp).

Optional per user; required for roles that can see unmasked data when the
setting `require_totp` is on. The secret is not customer data, but it is a
credential: it is stored encrypted (AES-256-GCM) under a key derived from the
service's secret key, bound to the user's id.

A code is good once: the time step of the last accepted code is kept per user
and moved forward in the same transaction as the login (a conditional UPDATE,
so of two concurrent logins with one code exactly one wins). A code of the
same or an earlier step is refused as replayed ("totp_replayed").
"""

from __future__ import annotations

import hmac
import os
from datetime import datetime
from typing import Any

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from service.access.models import User
from service.access.permissions import permissions_of
from service.access.service import Actor
from service.audit.service import Event, record
from service.config import Settings
from service.deps import Deps
from service.errors import Conflict, Invalid, Unauthenticated

ISSUER = "Datasteward"
UNMASKED = "subject.read_unmasked"
REPLAYED = "totp_replayed"
# Codes of the previous and the next time step are accepted too (clock drift).
DRIFT_STEPS = 1


def totp_required(settings: Settings, roles: frozenset[str]) -> bool:
    enforced = bool(getattr(settings, "require_totp", False)) or (
        settings.extra.get("require_totp") == "1"
    )
    return enforced and UNMASKED in permissions_of(roles)


def check_second_factor(
    deps: Deps, session: Session, user: User, roles: frozenset[str], code: str | None
) -> None:
    """Raise Unauthenticated unless the second factor is satisfied (or not needed)."""
    if not user.totp_enabled:
        if totp_required(deps.settings, roles):
            raise Unauthenticated(
                "your roles need a second factor: ask an administrator to enrol TOTP for you"
            )
        return
    if not code:
        raise Unauthenticated(
            "a TOTP code is required", details=[{"field": "totp", "reason": "required"}]
        )
    secret = _decrypt(deps.settings, user.id, user.totp_secret_enc or b"")
    step = matched_step(secret, code, deps.now())
    if step is None:
        raise Unauthenticated("wrong TOTP code", details=[{"field": "totp", "reason": "wrong"}])
    if not accept_step(session, user.id, step):
        raise Unauthenticated(
            "this TOTP code was already used; wait for the next one",
            details=[{"field": "totp", "reason": REPLAYED}],
        )


def matched_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code this is (within the drift allowed), or None."""
    if not (code.isascii() and code.isdigit()):
        return None  # digits of other scripts are no code (and compare_digest takes ASCII only)
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), str(code)):
            return step
    return None


def accept_step(session: Session, user_id: int, step: int) -> bool:
    """Record the step as used; False when it (or a later one) was used already."""
    moved = session.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(User.totp_last_counter.is_(None), User.totp_last_counter < step),
        )
        .values(totp_last_counter=step)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(moved, "rowcount", 0) == 1)


def enroll_totp(deps: Deps, actor: Actor) -> dict[str, Any]:
    """A new secret for the actor, pending confirmation with a first code."""
    secret = pyotp.random_base32()
    with deps.unit_of_work() as uow:
        user = uow.session.get_one(User, actor.id)
        if user.totp_enabled:
            raise Conflict("TOTP is already enabled for you")
        user.totp_secret_enc = _encrypt(deps.settings, user.id, secret)
        record(uow.session, actor, Event("auth.totp_enroll"), deps.now())
        uow.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=actor.username, issuer_name=ISSUER)
    return {"secret": secret, "otpauth_uri": uri}


def confirm_totp(deps: Deps, actor: Actor, code: str) -> None:
    with deps.unit_of_work() as uow:
        user = uow.session.get_one(User, actor.id)
        if user.totp_secret_enc is None:
            raise Conflict("enrol first: POST /api/v1/me/totp")
        secret = _decrypt(deps.settings, user.id, user.totp_secret_enc)
        step = matched_step(secret, code, deps.now())
        if step is None:
            raise Invalid.field("code", "wrong TOTP code")
        # The confirming code is used up: it cannot also log in.
        accept_step(uow.session, user.id, step)
        user.totp_enabled = True
        record(uow.session, actor, Event("auth.totp_enable"), deps.now())
        uow.commit()


def _key(settings: Settings) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"datasteward totp v1")
    return hkdf.derive(settings.secret_key.encode())


def _encrypt(settings: Settings, user_id: int, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_key(settings)).encrypt(
        nonce, secret.encode(), f"user:{user_id}".encode()
    )


def _decrypt(settings: Settings, user_id: int, blob: bytes) -> str:
    aad = f"user:{user_id}".encode()
    return AESGCM(_key(settings)).decrypt(blob[:12], blob[12:], aad).decode()
