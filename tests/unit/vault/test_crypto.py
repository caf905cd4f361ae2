import pytest

from service.vault.crypto import (
    FORMAT_V1,
    NONCE_BYTES,
    DecryptionError,
    KeyUnwrapError,
    associated_data,
    decrypt_field,
    encrypt_field,
    new_data_key,
    unwrap_key,
    wrap_key,
)

PLACE = {"subject": "sub_7f3a", "field": "name", "version": 3}


@pytest.fixture
def data_key() -> bytes:
    return new_data_key()


def test_new_data_keys_are_256_bit_and_distinct() -> None:
    assert len(new_data_key()) == 32
    assert new_data_key() != new_data_key()


def test_a_field_round_trips_as_utf8(data_key: bytes) -> None:
    blob = encrypt_field(data_key, "张三丰 𠮷", **PLACE)
    assert decrypt_field(data_key, blob, **PLACE).decode("utf-8") == "张三丰 𠮷"


def test_bytes_round_trip_unchanged(data_key: bytes) -> None:
    assert (
        decrypt_field(data_key, encrypt_field(data_key, b"\x00\xff", **PLACE), **PLACE)
        == b"\x00\xff"
    )


def test_blob_is_format_byte_nonce_ciphertext_and_tag(data_key: bytes) -> None:
    blob = encrypt_field(data_key, "abc", **PLACE)
    assert blob[0] == FORMAT_V1
    assert len(blob) == 1 + NONCE_BYTES + 3 + 16


def test_each_encryption_uses_a_fresh_nonce(data_key: bytes) -> None:
    first, second = (encrypt_field(data_key, "same", **PLACE) for _ in range(2))
    assert first[1 : 1 + NONCE_BYTES] != second[1 : 1 + NONCE_BYTES]


def test_ciphertext_does_not_contain_the_plaintext(data_key: bytes) -> None:
    assert b"CANARY-110101" not in encrypt_field(data_key, "CANARY-110101", **PLACE)


@pytest.mark.parametrize(
    "moved_to",
    [{"subject": "sub_other"}, {"field": "address"}, {"version": 4}],
    ids=["another subject", "another field", "another version"],
)
def test_a_blob_moved_elsewhere_does_not_decrypt(
    data_key: bytes, moved_to: dict[str, object]
) -> None:
    blob = encrypt_field(data_key, "secret", **PLACE)
    with pytest.raises(
        DecryptionError, match="ciphertext does not belong to subject/field/version"
    ):
        decrypt_field(data_key, blob, **{**PLACE, **moved_to})  # type: ignore[arg-type]


def test_another_subjects_key_does_not_decrypt(data_key: bytes) -> None:
    blob = encrypt_field(data_key, "secret", **PLACE)
    with pytest.raises(DecryptionError):
        decrypt_field(new_data_key(), blob, **PLACE)


def test_a_flipped_bit_is_detected(data_key: bytes) -> None:
    blob = bytearray(encrypt_field(data_key, "secret", **PLACE))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        decrypt_field(data_key, bytes(blob), **PLACE)


def test_decryption_errors_never_quote_the_plaintext(data_key: bytes) -> None:
    blob = encrypt_field(data_key, "CANARY", **PLACE)
    with pytest.raises(DecryptionError) as caught:
        decrypt_field(data_key, blob, **{**PLACE, "version": 9})  # type: ignore[arg-type]
    assert "CANARY" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_unknown_format_and_truncated_blobs_are_refused(data_key: bytes) -> None:
    blob = encrypt_field(data_key, "x", **PLACE)
    with pytest.raises(DecryptionError, match="format"):
        decrypt_field(data_key, b"\x02" + blob[1:], **PLACE)
    with pytest.raises(DecryptionError, match="too short"):
        decrypt_field(data_key, blob[:10], **PLACE)


def test_associated_data_is_unambiguous() -> None:
    assert associated_data(subject="a:b", field="c", version=1) != associated_data(
        subject="a", field="b:c", version=1
    )


def test_a_short_data_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_field(b"short", "x", **PLACE)


def test_a_wrapped_key_unwraps_under_its_kek(data_key: bytes) -> None:
    kek = new_data_key()
    wrapped = wrap_key(kek, data_key)
    assert wrapped != data_key
    assert unwrap_key(kek, wrapped) == data_key


def test_a_wrong_kek_raises_key_unwrap_error_naming_the_version(data_key: bytes) -> None:
    wrapped = wrap_key(new_data_key(), data_key)
    with pytest.raises(KeyUnwrapError, match="version 7"):
        unwrap_key(new_data_key(), wrapped, kek_version=7)


def test_a_damaged_wrapped_key_raises_key_unwrap_error(data_key: bytes) -> None:
    with pytest.raises(KeyUnwrapError):
        unwrap_key(new_data_key(), wrap_key(new_data_key(), data_key)[:-8])
