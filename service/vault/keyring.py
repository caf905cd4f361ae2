"""Key-encryption keys (KEKs) with versions, and the seam for an external KMS.

The vault wraps each subject's data key under the *current* KEK and stores the
KEK version beside the wrapped key. Rotation adds a new version and re-wraps
data keys (``rewrap``); nothing is re-encrypted. Old versions stay until every
wrapped key has moved off them.

The blind-index key and the signing key are deliberately not here: they have
other lifetimes and other rotation stories, so they live in their own settings.

Adding HashiCorp Vault Transit or a cloud KMS
---------------------------------------------
Write a class with the three members of ``KeyEncryptionService``; the vault's
service layer takes any such object, so nothing else changes.

* Vault Transit (``transit/`` engine, one named key):
  ``wrap`` -> ``POST transit/encrypt/<name>`` with the base64 data key; the
  returned ``vault:v<N>:...`` ciphertext carries the key version, return
  ``(N, ciphertext)``. ``unwrap`` -> ``POST transit/decrypt/<name>``.
  ``current_version`` -> ``latest_version`` from ``GET transit/keys/<name>``.
  Rotation is ``POST transit/keys/<name>/rotate``; re-wrapping is
  ``transit/rewrap/<name>`` (Vault does it without revealing the data key).
* AWS KMS / GCP Cloud KMS / Azure Key Vault: ``wrap`` -> ``Encrypt`` (AWS,
  GCP) or ``wrapKey`` (Azure); ``unwrap`` -> ``Decrypt`` / ``unwrapKey``.
  AWS keeps key versions internal (the ciphertext blob names them), so report
  a version of your own that you bump when you rotate; GCP and Azure expose
  ``cryptoKeyVersions`` / key versions, map those to integers.
  Pass the subject pseudonym as encryption context / AAD where the service
  supports it, and map its "access denied / invalid ciphertext" error to
  ``KeyUnwrapError``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from service.vault.crypto import KEK_BYTES, unwrap_key, wrap_key


class KeyringError(Exception):
    """The keyring is missing, malformed or cannot serve a request."""


class UnknownKekVersion(KeyringError):
    """A wrapped key names a KEK version the keyring does not hold."""


@runtime_checkable
class KeyEncryptionService(Protocol):
    """What the vault needs from whoever holds the key-encryption keys."""

    @property
    def current_version(self) -> int: ...

    def wrap(self, data_key: bytes) -> tuple[int, bytes]: ...

    def unwrap(self, kek_version: int, wrapped: bytes) -> bytes: ...


class Keyring:
    """Local KEKs by version; the one shipped KeyEncryptionService."""

    def __init__(
        self,
        keys: Mapping[int, bytes],
        current_version: int,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        _check_keys(keys, current_version)
        self._keys = dict(keys)
        self._current = current_version
        self._random_bytes = random_bytes

    def __repr__(self) -> str:
        # Key material must never reach a log line or a traceback.
        return f"Keyring(versions={self.versions}, current_version={self._current})"

    @property
    def current_version(self) -> int:
        return self._current

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def add_version(self) -> int:
        """Rotate: add a new random KEK and make it current. Returns its version."""
        version = max(self._keys) + 1
        self._keys[version] = self._random_bytes(KEK_BYTES)
        self._current = version
        return version

    def without_version(self, version: int) -> Keyring:
        """A copy without one retired version (never the current one)."""
        if version == self._current:
            raise KeyringError(f"version {version} is current; rotate before retiring it")
        self._kek(version)
        keys = {v: k for v, k in self._keys.items() if v != version}
        return Keyring(keys, self._current, random_bytes=self._random_bytes)

    def wrap(self, data_key: bytes) -> tuple[int, bytes]:
        return self._current, wrap_key(self._keys[self._current], data_key)

    def unwrap(self, kek_version: int, wrapped: bytes) -> bytes:
        return unwrap_key(self._kek(kek_version), wrapped, kek_version=kek_version)

    def rewrap(self, kek_version: int, wrapped: bytes) -> tuple[int, bytes]:
        """Move a wrapped key onto the current KEK (rotation re-encrypts nothing)."""
        return self.wrap(self.unwrap(kek_version, wrapped))

    def to_json(self) -> str:
        keys = {str(v): base64.b64encode(k).decode("ascii") for v, k in sorted(self._keys.items())}
        return json.dumps({"current": self._current, "keys": keys}, indent=2)

    def _kek(self, kek_version: int) -> bytes:
        try:
            return self._keys[kek_version]
        except KeyError:
            raise UnknownKekVersion(
                f"key-encryption key version {kek_version} is not in the keyring "
                f"(holds {self.versions})"
            ) from None


def keyring_from_json(text: str) -> Keyring:
    """Parse {"current": 2, "keys": {"1": "<base64>", "2": "<base64>"}}."""
    try:
        document = json.loads(text)
        keys = {int(version): _decode_key(encoded) for version, encoded in document["keys"].items()}
        current = document["current"]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        # The parser's message could quote key material, so it is not chained.
        raise KeyringError(f"keyring JSON is malformed ({type(error).__name__})") from None
    if not isinstance(current, int):
        raise KeyringError("keyring JSON: 'current' must be an integer")
    return Keyring(keys, current)


def keyring_from_env_value(value: str) -> Keyring:
    """Read a keyring from an environment variable: keyring JSON or one base64 KEK (version 1)."""
    value = value.strip()
    if value.startswith("{"):
        return keyring_from_json(value)
    try:
        return Keyring({1: _decode_key(value)}, 1)
    except ValueError:
        raise KeyringError("keyring variable is neither keyring JSON nor one base64 key") from None


def load_keyring_file(path: Path) -> tuple[Keyring, list[str]]:
    """Load a keyring file; the list holds warnings (e.g. permissions wider than 0600)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise KeyringError(f"cannot read keyring file {path}: {error.strerror}") from None
    return keyring_from_json(text), _permission_warnings(path)


def generate_keyring_file(
    path: Path, *, random_bytes: Callable[[int], bytes] = os.urandom
) -> Keyring:
    """Create a new keyring file (mode 0600) with one random KEK; never overwrites."""
    keyring = Keyring({1: random_bytes(KEK_BYTES)}, 1, random_bytes=random_bytes)
    _write_private(path, keyring.to_json(), exclusive=True)
    return keyring


def save_keyring_file(path: Path, keyring: Keyring) -> None:
    """Replace the keyring file atomically, keeping it 0600 (after add_version)."""
    temporary = path.with_name(path.name + ".tmp")
    _write_private(temporary, keyring.to_json(), exclusive=False)
    os.replace(temporary, path)


def _write_private(path: Path, text: str, *, exclusive: bool) -> None:
    # Created 0600 by open() itself, so the keys are never readable by others,
    # not even for the moment between creating and chmod-ing the file.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyringError(
            f"keyring file {path} already exists; refusing to overwrite it"
        ) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _permission_warnings(path: Path) -> list[str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return [f"keyring file {path} has permissions {mode:04o}; it should be 0600"]
    return []


def _decode_key(encoded: object) -> bytes:
    if not isinstance(encoded, str):
        raise ValueError("key must be a base64 string")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("key is not valid base64") from None


def _check_keys(keys: Mapping[int, bytes], current_version: int) -> None:
    if current_version not in keys:
        raise KeyringError(f"current version {current_version} is not in the keyring")
    for version, kek in keys.items():
        if version < 1:
            raise KeyringError(f"key-encryption key versions start at 1, got {version}")
        if len(kek) != KEK_BYTES:
            raise KeyringError(
                f"key-encryption key version {version} must be {KEK_BYTES} bytes, got {len(kek)}"
            )
