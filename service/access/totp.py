"""TOTP second factor (RFC 6238, via pyotp).

Optional per user; required for roles that can see unmasked data when the
setting `require_totp` is on. The secret is not customer data, but it is a
credential: it is stored encrypted (AES-256-GCM) under a key derived from the
service's secret key, bound to the user's id.
"""

from __future__ import annotations

import os
from typing import Any

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.access.models import User
from service.access.permissions import permissions_of
from service.access.service import Actor
from service.audit.service import Event, record
from service.config import Settings
from service.deps import Deps
from service.errors import Conflict, Invalid, Unauthenticated

ISSUER = "Datasteward"
UNMASKED = "subject.read_unmasked"


def totp_required(settings: Settings, roles: frozenset[str]) -> bool:
    enforced = bool(getattr(settings, "require_totp", False)) or (
        settings.extra.get("require_totp") == "1"
    )
    return enforced and UNMASKED in permissions_of(roles)


def check_second_factor(deps: Deps, user: User, roles: frozenset[str], code: str | None) -> None:
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
    if not pyotp.TOTP(secret).verify(code, for_time=deps.now(), valid_window=1):
        raise Unauthenticated("wrong TOTP code", details=[{"field": "totp", "reason": "wrong"}])


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
        if not pyotp.TOTP(secret).verify(code, for_time=deps.now(), valid_window=1):
            raise Invalid.field("code", "wrong TOTP code")
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
