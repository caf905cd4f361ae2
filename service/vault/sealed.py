"""Values sealed apart from their subject's key: a customer notification's number.

A notification must reach the customer after the case that queued it has moved
on, sometimes after their record is held or gone, so its number is copied and
sealed under a key of its own (AES-256-GCM; the key wrapped by the KEK in the
key store as `NotificationKey`, rotated with the others). The associated data
binds the ciphertext to its notification. Destroying the key is erasing the
copy (service/notifications decides when).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from service.db import UnitOfWork
from service.vault.crypto import decrypt_field, encrypt_field, new_data_key
from service.vault.keys import VaultKeys
from service.vault.models import NotificationKey


def seal_for_notification(
    uow: UnitOfWork, keys: VaultKeys, notification_id: int, value: str, now: datetime
) -> bytes:
    """The value encrypted under a fresh key stored (wrapped) for this notification."""
    key = new_data_key()
    kek_version, wrapped = keys.keyring.wrap(key)
    uow.keystore.add(
        NotificationKey(
            notification_id=notification_id,
            kek_version=kek_version,
            wrapped_key=wrapped,
            created_at=now,
        )
    )
    return encrypt_field(key, value, **_bound_to(notification_id))


def unseal_for_notification(
    uow: UnitOfWork, keys: VaultKeys, notification_id: int, sealed: bytes | None
) -> str | None:
    """The sealed value, or None once the notification's key is destroyed."""
    stored = uow.keystore.get(NotificationKey, notification_id)
    if stored is None or sealed is None:
        return None
    key = keys.keyring.unwrap(stored.kek_version, stored.wrapped_key)
    return decrypt_field(key, sealed, **_bound_to(notification_id)).decode("utf-8")


def destroy_notification_key(uow: UnitOfWork, notification_id: int) -> None:
    uow.keystore.execute(
        delete(NotificationKey).where(NotificationKey.notification_id == notification_id)
    )


def _bound_to(notification_id: int) -> dict:
    # The ciphertext decrypts only as this notification's destination.
    return {"subject": f"notification:{notification_id}", "field": "destination", "version": 1}
