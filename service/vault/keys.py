"""Loading the vault's secrets: the KEK keyring and the blind-index key."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

from service.config import Settings
from service.vault.keyring import (
    KeyEncryptionService,
    Keyring,
    generate_keyring_file,
    keyring_from_env_value,
    load_keyring_file,
)


class KeysMissing(RuntimeError):
    """A secret the vault needs does not exist yet (run `datasteward init`)."""


@dataclass(frozen=True)
class VaultKeys:
    keyring: KeyEncryptionService
    blind_index_key: bytes


def load_vault_keys(settings: Settings, *, create: bool = False) -> VaultKeys:
    """The vault's keys; with ``create`` the embedded run's key files are made if missing."""
    if settings.keyring:
        keyring: KeyEncryptionService = keyring_from_env_value(settings.keyring)
    else:
        path = Path(settings.keyring_file)
        if not path.exists():
            if not create:
                raise KeysMissing(f"no keyring at {path}; run `datasteward init` first")
            path.parent.mkdir(parents=True, exist_ok=True)
            generate_keyring_file(path)
        keyring = ReloadingKeyring(path)
    return VaultKeys(keyring=keyring, blind_index_key=_blind_index_key(settings, create))


def _blind_index_key(settings: Settings, create: bool) -> bytes:
    path = Path(settings.blind_index_key_file)
    if not path.exists():
        if not create:
            raise KeysMissing(f"no blind-index key at {path}; run `datasteward init` first")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(os.urandom(32)).decode())
    return base64.b64decode(path.read_text().strip())


class ReloadingKeyring:
    """The keyring file, re-read when it changes (after `keys rotate` in another process).

    Without this, a web or worker process started before a rotation could not
    unwrap keys re-wrapped under the new version, and would keep wrapping new
    keys under a version the operator wants to retire.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._keyring: Keyring | None = None

    @property
    def keyring(self) -> Keyring:
        mtime = self.path.stat().st_mtime
        if self._keyring is None or mtime != self._mtime:
            self._keyring, _warnings = load_keyring_file(self.path)
            self._mtime = mtime
        return self._keyring

    def __repr__(self) -> str:
        return f"ReloadingKeyring({self.path})"

    @property
    def current_version(self) -> int:
        return self.keyring.current_version

    @property
    def versions(self) -> list[int]:
        return self.keyring.versions

    def wrap(self, data_key: bytes) -> tuple[int, bytes]:
        return self.keyring.wrap(data_key)

    def unwrap(self, kek_version: int, wrapped: bytes) -> bytes:
        return self.keyring.unwrap(kek_version, wrapped)
