"""The service's Ed25519 signing key: audit checkpoints, archive manifests, certificates.

One key per deployment, kept in ``settings.signing_key_file`` (PKCS#8 PEM,
mode 0600) and created by ``datasteward init``. Verifiers need only the public
key (``public_key_pem``), so an archive or certificate can be checked offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.audit.checkpoint import (
    key_id_for,
    private_key_from_pem,
    private_key_to_pem,
    public_key_to_pem,
)
from service.config import Settings


class SigningKeyMissing(RuntimeError):
    """The signing key does not exist yet (run `datasteward init`)."""


def load_signing_key(settings: Settings, create: bool = False) -> Ed25519PrivateKey:
    """The service's signing key; with ``create`` it is generated if missing."""
    path = Path(settings.signing_key_file)
    if not path.exists():
        if not create:
            raise SigningKeyMissing(f"no signing key at {path}; run `datasteward init` first")
        _write_new_key(path)
    return private_key_from_pem(path.read_bytes())


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = private_key_to_pem(Ed25519PrivateKey.generate())
    try:
        # O_EXCL: two processes initialising at once must not end up with two keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def public_key_pem(settings: Settings) -> bytes:
    """The public half in SubjectPublicKeyInfo PEM: what an offline verifier is given."""
    return public_key_to_pem(load_signing_key(settings).public_key())


def signing_key_id(settings: Settings) -> str:
    return key_id_for(load_signing_key(settings).public_key())
