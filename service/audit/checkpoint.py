"""Signed tree heads (checkpoints) over the audit log's Merkle tree.

A checkpoint says "the first ``tree_size`` audit records hash to
``root_hash``", signed with Ed25519. It catches what the hash chain alone
cannot: a cut-off tail (fewer records than a signed size) and a rewritten
history (someone with write access can recompute every chain hash, but not
forge the signature over the old root).

The signature covers exactly these UTF-8 bytes, with no trailing newline::

    datasteward-checkpoint-v1\\n
    <tree_size in decimal>\\n
    <root_hash in lowercase hex>\\n
    <timestamp>\\n
    <key_id>

Timestamp and key id may not contain a newline, so no two heads share one
message. Leaf ``i`` of the tree is the record with seq ``i + 1``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.audit.merkle import HASH_SIZE, tree_root

_DOMAIN = "datasteward-checkpoint-v1"


@dataclass(frozen=True)
class TreeHead:
    tree_size: int
    root_hash: bytes
    timestamp: str  # ISO 8601, UTC
    key_id: str


@dataclass(frozen=True)
class Report:
    ok: bool
    reason: str | None = None


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """Short, stable name for a signing key: 16 hex digits of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def tree_head_message(head: TreeHead) -> bytes:
    """The exact bytes a checkpoint signature covers; see the module docstring."""
    if isinstance(head.tree_size, bool) or not isinstance(head.tree_size, int):
        raise ValueError("tree size must be an integer")
    if head.tree_size < 0:
        raise ValueError("tree size cannot be negative")
    if not isinstance(head.root_hash, bytes) or len(head.root_hash) != HASH_SIZE:
        raise ValueError("root hash must be 32 bytes")
    if "\n" in head.timestamp or "\n" in head.key_id:
        raise ValueError("timestamp and key id cannot contain a newline")
    lines = (_DOMAIN, str(head.tree_size), head.root_hash.hex(), head.timestamp, head.key_id)
    return "\n".join(lines).encode("utf-8")


def sign_tree_head(private_key: Ed25519PrivateKey, head: TreeHead) -> bytes:
    # Refuse a head naming another key: it would be signed but never verify.
    if head.key_id != key_id_for(private_key.public_key()):
        raise ValueError(f"tree head names key {head.key_id!r}, not the signing key")
    return private_key.sign(tree_head_message(head))


def verify_tree_head(public_key: Ed25519PublicKey, head: TreeHead, signature: bytes) -> bool:
    """True only for a well-formed head signed by ``public_key`` under its own key id."""
    try:
        if head.key_id != key_id_for(public_key):
            return False
        public_key.verify(signature, tree_head_message(head))
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return False
    return True


def verify_against_checkpoint(
    leaf_hashes: Sequence[bytes], head: TreeHead, signature: bytes, public_key: Ed25519PublicKey
) -> Report:
    """Check the stored log against a signed checkpoint.

    ``leaf_hashes`` are the log's leaves in seq order, starting at seq 1. A
    log longer than the checkpoint is fine (it grew since); only the first
    ``head.tree_size`` leaves are compared.
    """
    if not verify_tree_head(public_key, head, signature):
        return Report(False, "checkpoint signature invalid")
    present = len(leaf_hashes)
    if present < head.tree_size:
        missing = head.tree_size - present
        return Report(False, f"log truncated: {missing} records missing after seq {present}")
    if tree_root(leaf_hashes[: head.tree_size]) != head.root_hash:
        return Report(
            False, f"root mismatch: records 1 to {head.tree_size} differ from the checkpoint"
        )
    return Report(True)


def private_key_from_pem(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"checkpoint keys are Ed25519, got {type(key).__name__}")
    return key


def private_key_to_pem(private_key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError(f"checkpoint keys are Ed25519, got {type(key).__name__}")
    return key


def public_key_to_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
