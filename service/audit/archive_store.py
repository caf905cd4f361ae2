"""Where sealed audit segments go: an interface and the local-directory store.

An object store with a retention lock (S3 Object Lock, for example) fits the
same three calls; `put` there would set the lock's retain-until date.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Protocol

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


class ArchiveStore(Protocol):
    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` atomically: readers see all of it or nothing."""

    def get(self, name: str) -> bytes: ...

    def exists(self, name: str) -> bool: ...


class LocalArchiveStore:
    """A directory; each object is written to a temporary name, synced, then renamed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, name: str, data: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._path(name)
        temporary = self.root / f".{name}.{uuid.uuid4().hex}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)  # atomic on POSIX: a killed worker leaves only a .tmp

    def get(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"bad archive object name {name!r}")
        return self.root / name
