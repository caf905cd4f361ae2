"""Proof documents (ID card scans, signed forms): type check and encryption.

The type is decided by the file's first bytes, never by its name or by a
client-declared content type, which anyone can set to anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePath

from service.vault.crypto import decrypt_field, encrypt_field

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
_MAGIC = ((b"%PDF-", PDF), (b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG))
_EXTENSION_TYPES = {".pdf": PDF, ".jpg": JPEG, ".jpeg": JPEG, ".png": PNG}


class DocumentRejected(Exception):
    """A document cannot be accepted; ``code`` is stable for clients."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class DocumentInfo:
    media_type: str
    size: int
    sha256_hex: str
    warnings: tuple[str, ...] = field(default=())


def sniff_type(data: bytes) -> str | None:
    """Return the media type that the magic bytes show, or None."""
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    return None


def check_document(data: bytes, declared_filename: str, max_bytes: int) -> DocumentInfo:
    """Accept a PDF, JPEG or PNG of 1..max_bytes bytes; warn when its name says otherwise."""
    if not data:
        raise DocumentRejected("document is empty", "empty")
    if len(data) > max_bytes:
        raise DocumentRejected(
            f"document is {len(data)} bytes; the limit is {max_bytes}", "too_large"
        )
    media_type = sniff_type(data)
    if media_type is None:
        raise DocumentRejected("document is not a PDF, JPEG or PNG file", "unknown_type")
    warnings = _extension_warnings(declared_filename, media_type)
    return DocumentInfo(media_type, len(data), hashlib.sha256(data).hexdigest(), warnings)


def document_field(document_id: str) -> str:
    """The field name a document's ciphertext is bound to."""
    if not document_id:
        raise ValueError("document_id must not be empty")
    return f"document:{document_id}"


def encrypt_document(
    data_key: bytes, data: bytes, *, subject: str, document_id: str, version: int = 1
) -> bytes:
    """Encrypt a document under the subject's data key, bound to its id."""
    return encrypt_field(
        data_key, data, subject=subject, field=document_field(document_id), version=version
    )


def decrypt_document(
    data_key: bytes, blob: bytes, *, subject: str, document_id: str, version: int = 1
) -> bytes:
    """Decrypt a document; a blob of another subject or document raises DecryptionError."""
    return decrypt_field(
        data_key, blob, subject=subject, field=document_field(document_id), version=version
    )


def _extension_warnings(declared_filename: str, media_type: str) -> tuple[str, ...]:
    # Only the extension is quoted: a file name can itself carry a person's name.
    extension = PurePath(declared_filename).suffix.lower()
    declared_type = _EXTENSION_TYPES.get(extension)
    if declared_type == media_type:
        return ()
    shown = f"'{extension}'" if _is_plain_extension(extension) else "an unrecognised extension"
    if not extension:
        shown = "no extension"
    return (f"file name has {shown} but the content is {media_type}",)


def _is_plain_extension(extension: str) -> bool:
    return 2 <= len(extension) <= 8 and extension[1:].isascii() and extension[1:].isalnum()
