"""Field encryption for the vault: AES-256-GCM under a per-subject data key.

Each subject has its own random 256-bit data key (design rule 2); the key is
stored only wrapped by a key-encryption key (KEK) with AES key wrap (RFC 3394),
so destroying the wrapped key shreds every copy of the subject's ciphertext.

Associated data
---------------
GCM authenticates, but does not encrypt, a canonical byte string that binds a
ciphertext to where it belongs, so a blob copied into another subject's row,
another field or another record version fails to decrypt::

    b"datasteward.vault.field.v1" 0x00
    u32be(len(subject)) subject      (UTF-8 pseudonym)
    u32be(len(field))   field        (UTF-8 field name)
    u64be(version)                   (record version)

Length prefixes make the encoding injective: no two (subject, field, version)
triples share one byte string, whatever characters they contain.

Blob layout
-----------
``format (1 byte, 0x01) || nonce (12 bytes) || ciphertext || tag (16 bytes)``.
The format byte lets a later algorithm or AD layout coexist with old rows.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

DATA_KEY_BYTES = 32
KEK_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_V1 = 0x01
_AD_LABEL = b"datasteward.vault.field.v1\x00"
_MAX_VERSION = 2**64 - 1


class VaultCryptoError(Exception):
    """Base class of the vault's cryptographic failures."""


class DecryptionError(VaultCryptoError):
    """A blob could not be decrypted: wrong key, wrong binding or tampering."""


class KeyUnwrapError(VaultCryptoError):
    """A wrapped data key did not unwrap under the given KEK."""


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key."""
    return os.urandom(DATA_KEY_BYTES)


def associated_data(*, subject: str, field: str, version: int) -> bytes:
    """Return the canonical byte string binding a blob to its place."""
    if not subject or not field:
        raise ValueError("subject and field must not be empty")
    if not 0 <= version <= _MAX_VERSION:
        raise ValueError("version must be a non-negative 64-bit integer")
    return (
        _AD_LABEL + _length_prefixed(subject) + _length_prefixed(field) + struct.pack(">Q", version)
    )


def encrypt_field(
    data_key: bytes, plaintext: str | bytes, *, subject: str, field: str, version: int
) -> bytes:
    """Encrypt one field value; str is encoded as UTF-8."""
    _require_key_length(data_key, DATA_KEY_BYTES, "data key")
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    ad = associated_data(subject=subject, field=field, version=version)
    # A random 96-bit nonce per call: safe for far more than the number of
    # encryptions one subject's key will ever see (NIST SP 800-38D limit 2**32).
    nonce = os.urandom(NONCE_BYTES)
    return bytes([FORMAT_V1]) + nonce + AESGCM(data_key).encrypt(nonce, data, ad)


def decrypt_field(data_key: bytes, blob: bytes, *, subject: str, field: str, version: int) -> bytes:
    """Decrypt a blob made by encrypt_field for exactly this subject, field and version."""
    _require_key_length(data_key, DATA_KEY_BYTES, "data key")
    ad = associated_data(subject=subject, field=field, version=version)
    nonce, sealed = _split_blob(blob)
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, ad)
    except InvalidTag:
        raise DecryptionError(
            f"ciphertext does not belong to subject/field/version "
            f"({subject!r}, {field!r}, {version}), or the data key is wrong, "
            f"or the ciphertext was altered"
        ) from None


def wrap_key(kek: bytes, data_key: bytes) -> bytes:
    """Wrap a data key under a KEK with AES key wrap (RFC 3394)."""
    _require_key_length(kek, KEK_BYTES, "key-encryption key")
    _require_key_length(data_key, DATA_KEY_BYTES, "data key")
    return aes_key_wrap(kek, data_key)


def unwrap_key(kek: bytes, wrapped: bytes, *, kek_version: int | None = None) -> bytes:
    """Unwrap a data key; a wrong KEK or a damaged wrapped key raises KeyUnwrapError."""
    _require_key_length(kek, KEK_BYTES, "key-encryption key")
    which = (
        "the key-encryption key"
        if kek_version is None
        else f"key-encryption key version {kek_version}"
    )
    try:
        data_key = aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError):
        # ValueError: wrong length, which is damage just like a bad integrity check.
        raise KeyUnwrapError(f"wrapped data key does not unwrap under {which}") from None
    _require_key_length(data_key, DATA_KEY_BYTES, "unwrapped data key")
    return data_key


def _length_prefixed(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return struct.pack(">I", len(encoded)) + encoded


def _split_blob(blob: bytes) -> tuple[bytes, bytes]:
    if len(blob) < 1 + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("ciphertext is too short to be a vault blob")
    if blob[0] != FORMAT_V1:
        raise DecryptionError(f"unsupported ciphertext format byte 0x{blob[0]:02x}")
    return blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]


def _require_key_length(key: bytes, expected: int, what: str) -> None:
    # Never echo the key itself; its length is enough to diagnose a mix-up.
    if len(key) != expected:
        raise ValueError(f"{what} must be {expected} bytes, got {len(key)}")
