import dataclasses
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from service.audit.checkpoint import (
    Report,
    TreeHead,
    key_id_for,
    private_key_from_pem,
    private_key_to_pem,
    public_key_from_pem,
    public_key_to_pem,
    sign_tree_head,
    tree_head_message,
    verify_against_checkpoint,
    verify_tree_head,
)
from service.audit.merkle import leaf_hash, tree_root

TIMESTAMP = "2025-11-29T02:00:00Z"


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def log_leaves(count: int) -> list[bytes]:
    return [leaf_hash(f"record {seq}".encode()) for seq in range(1, count + 1)]


def head_for(leaves: list[bytes], key: Ed25519PrivateKey) -> TreeHead:
    return TreeHead(len(leaves), tree_root(leaves), TIMESTAMP, key_id_for(key.public_key()))


# --- signed tree heads -------------------------------------------------------------


def test_tree_head_message_is_the_documented_byte_string() -> None:
    head = TreeHead(7, bytes(range(32)), TIMESTAMP, "0123456789abcdef")
    assert tree_head_message(head) == (
        b"datasteward-checkpoint-v1\n7\n"
        + bytes(range(32)).hex().encode()
        + b"\n2025-11-29T02:00:00Z\n0123456789abcdef"
    )


def test_key_id_is_the_first_16_hex_digits_of_sha256_of_the_raw_public_key(
    signing_key: Ed25519PrivateKey,
) -> None:
    raw = signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert key_id_for(signing_key.public_key()) == hashlib.sha256(raw).hexdigest()[:16]


def test_a_signed_tree_head_verifies(signing_key: Ed25519PrivateKey) -> None:
    head = head_for(log_leaves(5), signing_key)
    signature = sign_tree_head(signing_key, head)
    assert verify_tree_head(signing_key.public_key(), head, signature)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 4},
        {"root_hash": bytes(32)},
        {"timestamp": "2025-11-29T02:00:01Z"},
    ],
    ids=["size", "root", "timestamp"],
)
def test_any_change_to_a_signed_tree_head_breaks_the_signature(
    signing_key: Ed25519PrivateKey, change: dict[str, Any]
) -> None:
    head = head_for(log_leaves(5), signing_key)
    signature = sign_tree_head(signing_key, head)
    assert not verify_tree_head(
        signing_key.public_key(), dataclasses.replace(head, **change), signature
    )


def test_another_key_cannot_vouch_for_a_tree_head(signing_key: Ed25519PrivateKey) -> None:
    head = head_for(log_leaves(5), signing_key)
    signature = sign_tree_head(signing_key, head)
    assert not verify_tree_head(Ed25519PrivateKey.generate().public_key(), head, signature)


def test_a_head_naming_another_key_id_does_not_verify(signing_key: Ed25519PrivateKey) -> None:
    head = dataclasses.replace(head_for(log_leaves(5), signing_key), key_id="ffffffffffffffff")
    signature = signing_key.sign(tree_head_message(head))
    assert not verify_tree_head(signing_key.public_key(), head, signature)


def test_signing_refuses_a_head_that_names_another_key(signing_key: Ed25519PrivateKey) -> None:
    head = dataclasses.replace(head_for(log_leaves(5), signing_key), key_id="ffffffffffffffff")
    with pytest.raises(ValueError, match="not the signing key"):
        sign_tree_head(signing_key, head)


@pytest.mark.parametrize(
    "signature",
    [b"", b"\x00" * 64, b"\x00" * 65, "not bytes", None],
    ids=["empty", "zeros", "too long", "text", "none"],
)
def test_tree_head_verifier_answers_false_to_a_malformed_signature(
    signing_key: Ed25519PrivateKey, signature: object
) -> None:
    head = head_for(log_leaves(5), signing_key)
    assert verify_tree_head(signing_key.public_key(), head, signature) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [{"tree_size": -1}, {"root_hash": b"short"}, {"timestamp": "2025\nforged"}],
    ids=["negative size", "short root", "newline in timestamp"],
)
def test_tree_head_verifier_answers_false_to_a_malformed_head(
    signing_key: Ed25519PrivateKey, change: dict[str, Any]
) -> None:
    head = dataclasses.replace(head_for(log_leaves(5), signing_key), **change)
    assert verify_tree_head(signing_key.public_key(), head, bytes(64)) is False


def test_newlines_cannot_move_text_between_timestamp_and_key_id() -> None:
    head = TreeHead(1, bytes(32), "2025-11-29\nab", "cd")
    with pytest.raises(ValueError, match="newline"):
        tree_head_message(head)


# --- PEM keys -------------------------------------------------------------------


def test_keys_survive_a_pem_round_trip(signing_key: Ed25519PrivateKey) -> None:
    head = head_for(log_leaves(3), signing_key)
    reloaded = private_key_from_pem(private_key_to_pem(signing_key))
    public = public_key_from_pem(public_key_to_pem(signing_key.public_key()))
    assert verify_tree_head(public, head, sign_tree_head(reloaded, head))


def test_a_password_protected_pem_needs_its_password(signing_key: Ed25519PrivateKey) -> None:
    pem = private_key_to_pem(signing_key, password=b"correct horse")
    assert b"ENCRYPTED" in pem
    with pytest.raises(TypeError):
        private_key_from_pem(pem)
    assert key_id_for(private_key_from_pem(pem, b"correct horse").public_key()) == key_id_for(
        signing_key.public_key()
    )


def test_a_pem_key_of_another_algorithm_is_refused() -> None:
    ec_key = generate_private_key(SECP256R1())
    pem = ec_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    with pytest.raises(TypeError, match="Ed25519"):
        private_key_from_pem(pem)
    with pytest.raises(TypeError, match="Ed25519"):
        public_key_from_pem(
            ec_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )


# --- checking a log against a checkpoint -------------------------------------------


def test_an_untouched_log_matches_its_checkpoint(signing_key: Ed25519PrivateKey) -> None:
    leaves = log_leaves(25)
    head = head_for(leaves, signing_key)
    signature = sign_tree_head(signing_key, head)
    assert verify_against_checkpoint(leaves, head, signature, signing_key.public_key()) == Report(
        True
    )


def test_a_log_that_grew_since_the_checkpoint_still_matches_it(
    signing_key: Ed25519PrivateKey,
) -> None:
    leaves = log_leaves(25)
    head = head_for(leaves[:20], signing_key)
    signature = sign_tree_head(signing_key, head)
    assert verify_against_checkpoint(leaves, head, signature, signing_key.public_key()).ok


def test_a_truncated_log_is_reported_with_how_many_records_are_gone(
    signing_key: Ed25519PrivateKey,
) -> None:
    leaves = log_leaves(25)
    head = head_for(leaves, signing_key)
    signature = sign_tree_head(signing_key, head)
    report = verify_against_checkpoint(leaves[:22], head, signature, signing_key.public_key())
    assert report == Report(False, "log truncated: 3 records missing after seq 22")


def test_a_rewritten_record_is_reported_as_a_root_mismatch(signing_key: Ed25519PrivateKey) -> None:
    leaves = log_leaves(25)
    head = head_for(leaves, signing_key)
    signature = sign_tree_head(signing_key, head)
    leaves[9] = leaf_hash(b"rewritten")
    report = verify_against_checkpoint(leaves, head, signature, signing_key.public_key())
    assert report == Report(False, "root mismatch: records 1 to 25 differ from the checkpoint")


def test_a_forged_checkpoint_is_not_trusted(signing_key: Ed25519PrivateKey) -> None:
    leaves = log_leaves(25)
    forged_head = head_for(leaves[:10], signing_key)
    signature = sign_tree_head(signing_key, head_for(leaves, signing_key))
    report = verify_against_checkpoint(
        leaves[:10], forged_head, signature, signing_key.public_key()
    )
    assert report == Report(False, "checkpoint signature invalid")
