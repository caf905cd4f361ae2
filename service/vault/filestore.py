"""Where proof-document ciphertext lives: a file store behind a small interface.

Only ciphertext ever reaches a file store; the keys that open it stay in the
key store. The shipped implementation is a local directory; an S3-compatible
store needs the same three methods (``put_object``, ``get_object``,
``delete_object`` on one bucket).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

_STORAGE_KEY = re.compile(r"[a-z0-9_-]{8,128}")


class FileStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> bool: ...


class LocalFileStore:
    """One file per storage key under ``root``, written atomically with 0600 permissions."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> bool:
        """Remove the file; False when it was already gone (a redelivered deletion)."""
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return False
        return True

    def _path(self, key: str) -> Path:
        # Storage keys are generated ids; anything else could walk out of the root.
        if not _STORAGE_KEY.fullmatch(key):
            raise ValueError("storage key must be 8-128 characters of [a-z0-9_-]")
        return self.root / key[:2] / key
