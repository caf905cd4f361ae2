import hashlib

import pytest

from service.vault.crypto import DecryptionError, new_data_key
from service.vault.documents import (
    DocumentRejected,
    check_document,
    decrypt_document,
    encrypt_document,
    sniff_type,
)

PDF_BYTES = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PDF_BYTES, "application/pdf"),
        (JPEG_BYTES, "image/jpeg"),
        (PNG_BYTES, "image/png"),
        (b"GIF89a", None),
    ],
)
def test_the_type_is_decided_by_magic_bytes(data: bytes, media_type: str | None) -> None:
    assert sniff_type(data) == media_type


def test_an_accepted_document_reports_type_size_and_sha256() -> None:
    info = check_document(PNG_BYTES, "scan.PNG", max_bytes=1000)
    assert (info.media_type, info.size, info.warnings) == ("image/png", len(PNG_BYTES), ())
    assert info.sha256_hex == hashlib.sha256(PNG_BYTES).hexdigest()


def test_a_pdf_renamed_to_png_is_accepted_as_pdf_with_a_warning() -> None:
    info = check_document(PDF_BYTES, "id-card.png", max_bytes=1000)
    assert info.media_type == "application/pdf"
    assert info.warnings == ("file name has '.png' but the content is application/pdf",)


def test_a_warning_never_quotes_the_file_name() -> None:
    info = check_document(PDF_BYTES, "张三丰身份证", max_bytes=1000)
    assert "张三丰" not in " ".join(info.warnings)


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty"), (PDF_BYTES * 100, "too_large"), (b"MZ\x90\x00executable", "unknown_type")],
)
def test_a_document_is_rejected_when(data: bytes, code: str) -> None:
    with pytest.raises(DocumentRejected) as caught:
        check_document(data, "scan.pdf", max_bytes=1000)
    assert caught.value.code == code


def test_a_document_round_trips_through_encryption() -> None:
    data_key = new_data_key()
    blob = encrypt_document(data_key, PDF_BYTES, subject="sub_1", document_id="doc_9")
    assert PDF_BYTES not in blob
    assert decrypt_document(data_key, blob, subject="sub_1", document_id="doc_9") == PDF_BYTES


def test_a_document_blob_does_not_decrypt_as_another_document() -> None:
    data_key = new_data_key()
    blob = encrypt_document(data_key, PDF_BYTES, subject="sub_1", document_id="doc_9")
    with pytest.raises(DecryptionError, match="document:doc_8"):
        decrypt_document(data_key, blob, subject="sub_1", document_id="doc_8")
