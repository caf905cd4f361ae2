"""Offline checks with only the public key: exported ranges and API proofs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.audit import merkle
from service.audit.chain import canonical_json, chain_hash, verify_chain
from service.audit.checkpoint import verify_tree_head
from service.audit.checkpoints import head_from_view


def verify_export_file(path: str | Path, public_key: Ed25519PublicKey) -> list[str]:
    """Problems found in an export (empty when it verifies)."""
    try:
        lines = [json.loads(line) for line in Path(path).read_text().splitlines() if line]
        header = lines[0]
        records = [line for line in lines if line.get("type") == "record"]
        checkpoint = next(line for line in lines if line.get("type") == "checkpoint")
        proof = next(line for line in lines if line.get("type") == "inclusion")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError) as error:
        return [f"export unreadable: {error}"]
    entries = [(r["record"]["seq"], r["record"], bytes.fromhex(r["hash"])) for r in records]
    chain = verify_chain(entries, bytes.fromhex(header["prev_hash"]), header["first_seq"])
    if not chain.ok:
        return [f"record {chain.first_bad_seq}: {chain.reason}"]
    if not entries or entries[-1][0] != header["last_seq"] or proof["seq"] != header["last_seq"]:
        return [f"the export does not end at record {header['last_seq']}"]
    ok, message = _included(
        entries[-1][2], proof["seq"], proof["path"], checkpoint["checkpoint"], public_key
    )
    return [] if ok else [message]


def verify_proof_document(
    document: dict[str, Any], public_key: Ed25519PublicKey
) -> tuple[bool, str]:
    """Check what the API served: an inclusion proof or a consistency proof."""
    try:
        if "record" in document:
            return _check_inclusion_document(document, public_key)
        return _check_consistency_document(document, public_key)
    except (KeyError, ValueError, TypeError) as error:
        return False, f"malformed proof: {error}"


def _check_inclusion_document(doc: dict[str, Any], key: Ed25519PublicKey) -> tuple[bool, str]:
    record_hash = chain_hash(bytes.fromhex(doc["prev_hash"]), canonical_json(doc["record"]))
    if record_hash.hex() != doc["record_hash"] or doc["record"]["seq"] != doc["seq"]:
        return False, f"record {doc['seq']} does not hash to its chain hash"
    return _included(record_hash, doc["seq"], doc["path"], doc["checkpoint"], key)


def _included(
    record_hash: bytes, seq: int, path: list[str], view: dict[str, Any], key: Ed25519PublicKey
) -> tuple[bool, str]:
    head, signature = head_from_view(view)
    if not verify_tree_head(key, head, signature):
        return False, f"checkpoint {view['n']}: signature invalid"
    nodes = [bytes.fromhex(node) for node in path]
    leaf = merkle.leaf_hash(record_hash)
    if not merkle.verify_inclusion(leaf, seq - 1, head.tree_size, nodes, head.root_hash):
        return False, f"record {seq} is not in checkpoint {view['n']}"
    return True, f"record {seq} is in checkpoint {view['n']} (tree size {head.tree_size})"


def _check_consistency_document(doc: dict[str, Any], key: Ed25519PublicKey) -> tuple[bool, str]:
    (old, old_sig), (new, new_sig) = head_from_view(doc["from"]), head_from_view(doc["to"])
    for head, signature, view in ((old, old_sig, doc["from"]), (new, new_sig, doc["to"])):
        if not verify_tree_head(key, head, signature):
            return False, f"checkpoint {view['n']}: signature invalid"
    nodes = [bytes.fromhex(node) for node in doc["path"]]
    if not merkle.verify_consistency(
        old.tree_size, new.tree_size, old.root_hash, new.root_hash, nodes
    ):
        return False, f"checkpoint {doc['to']['n']} does not extend checkpoint {doc['from']['n']}"
    return True, f"checkpoint {doc['to']['n']} extends checkpoint {doc['from']['n']}"
