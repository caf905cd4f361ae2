"""KEK rotation: a new key-encryption key version, and every data key re-wrapped under it.

Nothing is re-encrypted: only the 40-byte wrapped keys in the key store change.
The rotation's row in the data database records the target version and the
progress, so an interrupted rotation resumes where it stopped; rows are picked
by "not yet on the target version", so a resumed batch never re-wraps twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from service.access.service import Actor
from service.audit.service import Event, record
from service.deps import Deps
from service.errors import Conflict
from service.vault.keyring import Keyring, load_keyring_file, save_keyring_file
from service.vault.models import CaseKey, DataKey, KeyRotation, NotificationKey, WrappedKey

Progress = Callable[[int, int], None]


# Every kind of wrapped key in the key store: rotation re-wraps them all.
WRAPPED_KEYS: tuple[type[WrappedKey], ...] = (DataKey, CaseKey, NotificationKey)


@dataclass(frozen=True)
class RotationResult:
    target_version: int
    rewrapped: int
    resumed: bool


def rotate_keys(
    deps: Deps, actor: Actor, *, batch_size: int = 500, progress: Progress | None = None
) -> RotationResult:
    """Create (or resume) a rotation and re-wrap every data key in batches of ``batch_size``."""
    path = _keyring_path(deps)
    rotation_id, resumed = _start_or_resume(deps, actor, path)
    keyring = _keyring_with_target(deps, path, rotation_id)
    while _rewrap_batch(deps, keyring, rotation_id, batch_size, progress):
        pass
    # Case keys hold proof documents of cases that do not know their subject yet, notification
    # keys the numbers of notifications not yet sent: few, short-lived.
    for model in (CaseKey, NotificationKey):
        while _rewrap_batch(deps, keyring, rotation_id, batch_size, progress, model=model):
            pass
    return _finish(deps, actor, rotation_id, resumed)


def retire_version(deps: Deps, actor: Actor, version: int) -> None:
    """Remove an old KEK version from the keyring once no data key is wrapped under it."""
    path = _keyring_path(deps)
    with deps.unit_of_work() as uow:
        for model, what in (
            (DataKey, "data keys"),
            (CaseKey, "case document keys"),
            (NotificationKey, "notification keys"),
        ):
            in_use = uow.keystore.scalar(
                select(func.count()).select_from(model).where(model.kek_version == version)
            )
            if in_use:
                raise Conflict(f"{in_use} {what} are still wrapped under version {version}")
        keyring, _warnings = load_keyring_file(path)
        save_keyring_file(path, keyring.without_version(version))
        record(
            uow.session,
            actor,
            Event(action="keys.retire", detail={"kek_version": version}),
            deps.now(),
        )
        uow.commit()


def key_status(deps: Deps) -> dict:
    with deps.unit_of_work() as uow:
        rows = uow.keystore.execute(
            select(DataKey.kek_version, func.count()).group_by(DataKey.kek_version)
        ).all()
        counts: dict[int, int] = {int(version): int(count) for version, count in rows}
        open_rotation = uow.session.scalar(
            select(KeyRotation).where(KeyRotation.finished_at.is_(None))
        )
        keyring = deps.keys.keyring
        return {
            "current_version": keyring.current_version,
            "versions": list(getattr(keyring, "versions", [keyring.current_version])),
            "data_keys_by_version": {int(v): int(n) for v, n in sorted(counts.items())},
            "unfinished_rotation": None
            if open_rotation is None
            else {
                "target_version": open_rotation.target_version,
                "rewrapped": open_rotation.rewrapped,
                "total": open_rotation.total,
            },
        }


def _keyring_path(deps: Deps) -> Path:
    if deps.settings.keyring:
        raise Conflict(
            "the keyring comes from DATASTEWARD_KEYRING; rotate it where it is kept, "
            "or use a keyring file"
        )
    return Path(deps.settings.keyring_file)


def _start_or_resume(deps: Deps, actor: Actor, path: Path) -> tuple[int, bool]:
    with deps.unit_of_work() as uow:
        rotation = uow.session.scalar(select(KeyRotation).where(KeyRotation.finished_at.is_(None)))
        if rotation is not None:
            return rotation.id, True
        keyring, _warnings = load_keyring_file(path)
        target = max(keyring.versions) + 1
        total = sum(
            uow.keystore.scalar(select(func.count()).select_from(model)) or 0
            for model in WRAPPED_KEYS
        )
        # The row first: a crash before the keyring file is saved resumes to the same version.
        rotation = KeyRotation(
            target_version=target, started_at=deps.now(), rewrapped=0, total=total
        )
        uow.session.add(rotation)
        uow.session.flush()
        record(
            uow.session,
            actor,
            Event(action="keys.rotate_start", detail={"target_version": target, "total": total}),
            deps.now(),
        )
        uow.commit()
        return rotation.id, False


def _keyring_with_target(deps: Deps, path: Path, rotation_id: int) -> Keyring:
    with deps.unit_of_work() as uow:
        target = uow.session.get_one(KeyRotation, rotation_id).target_version
    keyring, _warnings = load_keyring_file(path)
    if target not in keyring.versions:
        if keyring.add_version() != target:
            raise Conflict(f"keyring versions {keyring.versions} do not lead to version {target}")
        save_keyring_file(path, keyring)
    if keyring.current_version != target:
        raise Conflict(f"keyring's current version is {keyring.current_version}, not {target}")
    return keyring


def _rewrap_batch(
    deps: Deps,
    keyring: Keyring,
    rotation_id: int,
    batch_size: int,
    progress: Progress | None,
    model: type[WrappedKey] = DataKey,
) -> int:
    order = {
        DataKey: DataKey.subject,
        CaseKey: CaseKey.case_id,
        NotificationKey: NotificationKey.notification_id,
    }[model]
    with deps.unit_of_work() as uow:
        rotation = uow.session.get_one(KeyRotation, rotation_id)
        rows: Sequence[WrappedKey] = uow.keystore.scalars(
            select(model)
            .where(model.kek_version != rotation.target_version)
            .order_by(order)
            .limit(batch_size)
            .with_for_update()
        ).all()
        for row in rows:
            row.kek_version, row.wrapped_key = keyring.rewrap(row.kek_version, row.wrapped_key)
        rotation.rewrapped += len(rows)
        rotation.total = max(rotation.total, rotation.rewrapped)
        uow.commit()
        if progress is not None:
            progress(rotation.rewrapped, rotation.total)
        return len(rows)


def _finish(deps: Deps, actor: Actor, rotation_id: int, resumed: bool) -> RotationResult:
    with deps.unit_of_work() as uow:
        rotation = uow.session.get_one(KeyRotation, rotation_id)
        rotation.finished_at = deps.now()
        record(
            uow.session,
            actor,
            Event(
                action="keys.rotate",
                detail={
                    "target_version": rotation.target_version,
                    "rewrapped": rotation.rewrapped,
                    "resumed": resumed,
                },
            ),
            deps.now(),
        )
        uow.commit()
        return RotationResult(rotation.target_version, rotation.rewrapped, resumed)
