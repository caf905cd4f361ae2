"""RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256.

Audit checkpoints sign the root of a Merkle tree whose leaves are audit
records, so a verifier can prove that one record is in the log (inclusion)
and that a later log extends an earlier one without rewriting it
(consistency). The hashing follows RFC 6962 section 2.1 exactly, so any
Certificate Transparency tool can check our proofs:

    leaf_hash(d)    = SHA-256(0x00 || d)
    node_hash(l, r) = SHA-256(0x01 || l || r)
    root of []      = SHA-256("")

The distinct prefixes stop a leaf from being passed off as an inner node
(second-preimage attack on the tree).

Generators take the full list of leaf hashes and raise ``ValueError`` on bad
arguments. Verifiers take untrusted input and only ever answer ``True`` or
``False``: a wrong length, an index out of range or a missing or extra proof
node is a failed proof, never an exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def tree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 6962 MTH) of the given leaf hashes.

    Built bottom-up: pairing neighbours and lifting an unpaired last node to
    the next level unchanged gives the same tree as RFC 6962's recursive
    split at the largest power of two, without recursion.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = leaf_hashes
    while len(level) > 1:
        level = _parent_level(level)
    return level[0]


def _parent_level(level: Sequence[bytes]) -> list[bytes]:
    sha256 = hashlib.sha256  # local name: this loop runs once per inner node
    pairs = iter(level)
    # zip over one iterator twice walks the level in pairs without slicing it;
    # not strict, because an odd last node is lifted below instead of paired
    parents = [
        sha256(_NODE_PREFIX + left + right).digest()
        for left, right in zip(pairs, pairs, strict=False)
    ]
    if len(level) % 2:
        parents.append(level[-1])
    return parents


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` (RFC 6962 PATH), ordered leaf to root."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root; each step keeps the half holding the leaf and
    # records the other half's root, so the path comes out root-first.
    while end - start > 1:
        split = start + _largest_power_of_two_below(end - start)
        if index < split:
            path.append(tree_root(leaf_hashes[split:end]))
            end = split
        else:
            path.append(tree_root(leaf_hashes[start:split]))
            start = split
    path.reverse()
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first ``old_size`` leaves form a prefix of this tree.

    RFC 6962 PROOF(m, D[n]) with n = len(leaf_hashes), made iterative.
    """
    new_size = len(leaf_hashes)
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} outside 0..{new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, boundary = 0, new_size, old_size
    # ``old_root_known`` is RFC 6962's flag b: while True, the old tree's root
    # is a node the verifier already has and need not be sent.
    old_root_known = True
    while boundary != end - start:
        split = _largest_power_of_two_below(end - start)
        if boundary <= split:
            proof.append(tree_root(leaf_hashes[start + split : end]))
            end = start + split
        else:
            proof.append(tree_root(leaf_hashes[start : start + split]))
            start += split
            boundary -= split
            old_root_known = False
    if not old_root_known:
        proof.append(tree_root(leaf_hashes[start:end]))
    proof.reverse()
    return proof


def _largest_power_of_two_below(n: int) -> int:
    """Largest power of two strictly less than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an audit path (RFC 9162 section 2.1.3.2)."""
    if not (_is_hash(leaf_hash) and _is_hash(root) and _all_hashes(proof)):
        return False
    if not (_is_size(index) and _is_size(tree_size) and index < tree_size):
        return False
    node, last = index, tree_size - 1
    computed = leaf_hash
    for sibling in proof:
        if last == 0:
            return False  # more proof nodes than tree levels
        if node & 1 or node == last:
            computed = node_hash(sibling, computed)
            node, last = _skip_lifted_levels(node, last)
        else:
            computed = node_hash(computed, sibling)
        node, last = node >> 1, last >> 1
    return last == 0 and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check that the tree ``new_root`` extends the tree ``old_root``.

    Follows RFC 9162 section 2.1.4.2. An empty old tree is consistent with any
    new tree; the proof must then be empty and ``old_root`` must really be
    the empty-tree hash (``new_root`` cannot be checked without the leaves).
    """
    if not (_is_hash(old_root) and _is_hash(new_root) and _all_hashes(proof)):
        return False
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    return _check_consistency_path(old_size, new_size, old_root, new_root, list(proof))


def _check_consistency_path(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    if old_size & (old_size - 1) == 0:
        # A power-of-two old tree is itself a node of the new tree, so the
        # prover leaves it out and the verifier starts from the old root.
        proof = [old_root, *proof]
    node, last = old_size - 1, new_size - 1
    while node & 1:
        node, last = node >> 1, last >> 1
    old_computed = new_computed = proof[0]
    for sibling in proof[1:]:
        if last == 0:
            return False  # more proof nodes than tree levels
        if node & 1 or node == last:
            old_computed = node_hash(sibling, old_computed)
            new_computed = node_hash(sibling, new_computed)
            node, last = _skip_lifted_levels(node, last)
        else:
            new_computed = node_hash(new_computed, sibling)
        node, last = node >> 1, last >> 1
    return last == 0 and old_computed == old_root and new_computed == new_root


def _skip_lifted_levels(node: int, last: int) -> tuple[int, int]:
    # A right-edge node with no sibling is lifted unchanged; climb past the
    # levels where that happened so the next proof node meets its real pair.
    if not node & 1:
        while node and not node & 1:
            node, last = node >> 1, last >> 1
    return node, last


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _all_hashes(nodes: object) -> bool:
    return (
        isinstance(nodes, Sequence)
        and not isinstance(nodes, bytes | str)
        and all(_is_hash(node) for node in nodes)
    )


def _is_size(value: object) -> bool:
    # bool is an int subclass; True as a tree size is a caller bug, not a size
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class MerkleAccumulator:
    """Running RFC 6962 root that grows one leaf at a time in O(log n) memory.

    Keeps the roots of the perfect subtrees that make up the tree so far
    (one per set bit of the size, largest first): the "compact range" of
    transparency logs. Saving ``size`` and ``subtree_roots`` next to a
    checkpoint lets the service extend it later with only the new records.
    """

    def __init__(self) -> None:
        self._size = 0
        self._subtree_roots: list[bytes] = []

    @classmethod
    def resume(cls, size: int, subtree_roots: Sequence[bytes]) -> MerkleAccumulator:
        """Rebuild from a saved ``size`` and ``subtree_roots``."""
        if not _is_size(size) or len(subtree_roots) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} subtree roots")
        if not all(_is_hash(root) for root in subtree_roots):
            raise ValueError("subtree roots must be 32-byte hashes")
        accumulator = cls()
        accumulator._size = size
        accumulator._subtree_roots = list(subtree_roots)
        return accumulator

    @property
    def size(self) -> int:
        return self._size

    @property
    def subtree_roots(self) -> tuple[bytes, ...]:
        return tuple(self._subtree_roots)

    def append(self, leaf_hash: bytes) -> None:
        node, size = leaf_hash, self._size
        # Each trailing 1 bit of the old size is a finished subtree of the
        # same height as ``node``: merge them, like carrying in binary addition.
        while size & 1:
            node = node_hash(self._subtree_roots.pop(), node)
            size >>= 1
        self._subtree_roots.append(node)
        self._size += 1

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append many leaves: the same tree as `append` one by one, in fewer Python steps.

        The leaves go in as perfect subtrees, each as large as both the leaves
        left and the alignment of the current size allow, so most inner nodes
        are hashed level by level in `_parent_level`'s comprehension.
        """
        start, count = 0, len(leaf_hashes)
        while start < count:
            aligned = self._size & -self._size or 1 << count.bit_length()
            height = min(aligned, 1 << (count - start).bit_length() - 1).bit_length() - 1
            self._push(tree_root(leaf_hashes[start : start + (1 << height)]), height)
            start += 1 << height

    def _push(self, node: bytes, height: int) -> None:
        # Like `append`, one level up per trailing 1 bit, but for a perfect
        # subtree of 2**height leaves added at a size that is a multiple of it.
        size = self._size >> height
        while size & 1:
            node = node_hash(self._subtree_roots.pop(), node)
            size >>= 1
        self._subtree_roots.append(node)
        self._size += 1 << height

    def root(self) -> bytes:
        if not self._subtree_roots:
            return EMPTY_ROOT
        # RFC 6962 hangs the smaller subtrees off the right, so fold from the right.
        computed = self._subtree_roots[-1]
        for subtree_root in reversed(self._subtree_roots[:-1]):
            computed = node_hash(subtree_root, computed)
        return computed
