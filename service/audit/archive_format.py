"""The archive format of a sealed segment, and its offline verification.

A segment is two objects in the archive store:

- ``segment-<id>.jsonl.gz``: one line per record, the hashed fields plus
  ``"hash"`` (hex chain hash), canonical JSON, gzip with a zero mtime so the
  same records always give the same bytes (a rerun after a crash rewrites an
  identical file);
- ``segment-<id>.manifest.json``: ``{"manifest": {...}, "signature": b64}``,
  the Ed25519 signature over the canonical JSON of the manifest: range,
  count, the chain hash before the first record and of the last one, the
  data file's SHA-256, the signed checkpoint covering the segment and the
  inclusion proof of the last record in it.

Verifying needs only the public key: the signature makes the manifest
trustworthy, the digest the data file, the chain every record (each chain
hash commits to all before it), and the inclusion proof ties the segment's
last record, and so all of it, to a signed checkpoint.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.audit import merkle
from service.audit.chain import GENESIS, canonical_json, verify_chain
from service.audit.checkpoint import TreeHead, verify_tree_head

FORMAT = "datasteward-audit-segment-v1"


def data_name(segment_id: int) -> str:
    return f"segment-{segment_id:08d}.jsonl.gz"


def manifest_name(segment_id: int) -> str:
    return f"segment-{segment_id:08d}.manifest.json"


def pack_records(entries: Sequence[tuple[int, dict[str, Any], bytes]]) -> bytes:
    lines = b"".join(
        canonical_json(fields | {"hash": stored.hex()}) + b"\n" for _, fields, stored in entries
    )
    return gzip.compress(lines, compresslevel=6, mtime=0)


def sign_manifest(key: Ed25519PrivateKey, manifest: dict[str, Any]) -> bytes:
    signature = key.sign(canonical_json(manifest))
    document = {"manifest": manifest, "signature": base64.b64encode(signature).decode()}
    return json.dumps(document, indent=1, sort_keys=True).encode()


@dataclass
class SegmentCheck:
    segment: str
    ok: bool = True
    records: int = 0
    first_seq: int = 0
    last_seq: int = 0
    last_hash: str = ""
    prev_hash: str = ""
    problems: list[str] = field(default_factory=list)

    def fail(self, reason: str) -> SegmentCheck:
        self.ok = False
        self.problems.append(f"segment {self.segment}: {reason}")
        return self


def verify_segment(
    manifest_bytes: bytes, read_data: Any, public_key: Ed25519PublicKey, label: str
) -> SegmentCheck:
    """Check one segment; ``read_data(name)`` returns the data object's bytes."""
    check = SegmentCheck(label)
    try:
        document = json.loads(manifest_bytes)
        manifest, signature = document["manifest"], base64.b64decode(document["signature"])
        public_key.verify(signature, canonical_json(manifest))
    except (ValueError, KeyError, TypeError, InvalidSignature):
        return check.fail("manifest signature invalid or manifest unreadable")
    check.segment = str(manifest.get("segment", label))
    check.first_seq, check.last_seq = manifest.get("first_seq", 0), manifest.get("last_seq", 0)
    if manifest.get("format") != FORMAT:
        return check.fail(f"unknown format {manifest.get('format')!r}")
    _check_data(check, manifest, read_data)
    if check.ok:
        _check_checkpoint(check, manifest, public_key)
    return check


def _check_data(check: SegmentCheck, manifest: dict[str, Any], read_data: Any) -> None:
    try:
        data = read_data(manifest["data_object"])
    except (OSError, ValueError) as error:
        check.fail(f"data file unreadable: {error}")
        return
    if hashlib.sha256(data).hexdigest() != manifest["data_sha256"]:
        check.fail("data file digest differs from the signed manifest")
        return
    try:
        lines = gzip.decompress(data).splitlines()
        entries = [_entry(json.loads(line)) for line in lines]
    except (OSError, EOFError, zlib.error, ValueError, KeyError) as error:
        check.fail(f"data file corrupt: {error}")
        return
    _check_chain(check, manifest, entries)


def _entry(line: dict[str, Any]) -> tuple[int, dict[str, Any], bytes]:
    stored = bytes.fromhex(line.pop("hash"))
    return line["seq"], line, stored


def _check_chain(
    check: SegmentCheck, manifest: dict[str, Any], entries: list[tuple[int, dict[str, Any], bytes]]
) -> None:
    first, last = manifest["first_seq"], manifest["last_seq"]
    report = verify_chain(entries, bytes.fromhex(manifest["prev_hash"]), first)
    if not report.ok:
        check.fail(f"{report.reason}")
        return
    if len(entries) != manifest["record_count"] or len(entries) != last - first + 1:
        check.fail(f"holds {len(entries)} records, the manifest says {manifest['record_count']}")
        return
    if entries[-1][2].hex() != manifest["last_hash"]:
        check.fail("last record's hash differs from the manifest")
        return
    check.records = len(entries)
    check.prev_hash, check.last_hash = manifest["prev_hash"], manifest["last_hash"]


def _check_checkpoint(check: SegmentCheck, manifest: dict[str, Any], key: Ed25519PublicKey) -> None:
    view = manifest["checkpoint"]
    head = TreeHead(
        view["tree_size"], bytes.fromhex(view["root_hash"]), view["timestamp"], view["key_id"]
    )
    if not verify_tree_head(key, head, base64.b64decode(view["signature"])):
        check.fail("checkpoint signature invalid")
        return
    path = [bytes.fromhex(node) for node in manifest["inclusion_path"]]
    leaf = merkle.leaf_hash(bytes.fromhex(manifest["last_hash"]))
    if not merkle.verify_inclusion(
        leaf, manifest["last_seq"] - 1, head.tree_size, path, head.root_hash
    ):
        check.fail(f"last record is not in checkpoint {view['n']}")


def check_continuity(checks: list[SegmentCheck]) -> list[str]:
    """Consecutive segments must link: each starts where the one before ended."""
    problems = []
    ordered = sorted(checks, key=lambda c: c.first_seq)
    first = ordered[0] if ordered else None
    if first and first.ok and first.first_seq == 1 and first.prev_hash != GENESIS.hex():
        problems.append(f"segment {first.segment}: does not start at genesis")
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.first_seq != before.last_seq + 1:
            problems.append(
                f"segment {after.segment}: records {before.last_seq + 1} to"
                f" {after.first_seq - 1} missing between segments"
            )
        elif before.ok and after.ok and after.prev_hash != before.last_hash:
            problems.append(f"segment {after.segment}: does not continue segment {before.segment}")
    return problems


def verify_archive_dir(path: str, public_key: Ed25519PublicKey) -> list[SegmentCheck]:
    """Check every segment under ``path`` (a directory, or one manifest file) offline."""
    target = Path(path)
    manifests = [target] if target.is_file() else sorted(target.glob("segment-*.manifest.json"))
    folder = target.parent if target.is_file() else target
    checks = []
    for manifest in manifests:
        label = manifest.name.removesuffix(".manifest.json").removeprefix("segment-").lstrip("0")
        checks.append(
            verify_segment(
                manifest.read_bytes(),
                lambda name: (folder / Path(name).name).read_bytes(),
                public_key,
                label or "0",
            )
        )
    return checks
