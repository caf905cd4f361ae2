import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from service.audit.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "testdata" / "rfc6962-vectors"

Case = dict[str, Any]


@pytest.fixture
def vectors() -> Callable[[str], list[Case]]:
    if not VECTORS_DIR.is_dir():
        pytest.skip(f"RFC 6962 test vectors not found at {VECTORS_DIR}")

    def load(name: str) -> list[Case]:
        cases: list[Case] = json.loads((VECTORS_DIR / name).read_text())
        return cases

    return load


@pytest.fixture
def vector_leaves(vectors: Callable[[str], list[Case]]) -> list[bytes]:
    return [leaf_hash(case["leaf_data"].encode()) for case in vectors("merkle_tree.json")]


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def inclusion_args(case: Case) -> tuple[bytes, int, int, list[bytes], bytes]:
    path = [b64(node) for node in case["inclusion_path"]]
    return (
        b64(case["leaf_hash"]),
        case["leaf_index"],
        case["tree_size"],
        path,
        b64(case["root_hash"]),
    )


def consistency_args(case: Case) -> tuple[int, int, bytes, bytes, list[bytes]]:
    path = [b64(node) for node in case["consistency_path"]]
    return case["old_size"], case["new_size"], b64(case["old_root"]), b64(case["new_root"]), path


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def reference_root(hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 MTH written exactly as the RFC states it, recursion and all."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    return node_hash(reference_root(hashes[:split]), reference_root(hashes[split:]))


# --- hashing and tree heads ------------------------------------------------


def test_leaf_hash_reproduces_every_vector_leaf(vectors: Callable[[str], list[Case]]) -> None:
    for case in vectors("merkle_tree.json"):
        assert leaf_hash(case["leaf_data"].encode()) == b64(case["leaf_hash"]), case


def test_tree_root_reproduces_every_vector_tree_head(
    vectors: Callable[[str], list[Case]], vector_leaves: list[bytes]
) -> None:
    # Each vector entry gives the tree head after appending its leaf.
    for size, case in enumerate(vectors("merkle_tree.json"), start=1):
        assert tree_root(vector_leaves[:size]) == b64(case["root_hash"]), case


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert tree_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(left + right) != node_hash(left, right)


def test_tree_root_matches_the_recursive_rfc_definition_for_every_size_up_to_70() -> None:
    hashes = leaves(70)
    for size in range(71):
        assert tree_root(hashes[:size]) == reference_root(hashes[:size]), size


# --- inclusion proofs --------------------------------------------------------


def test_every_valid_inclusion_vector_is_accepted(vectors: Callable[[str], list[Case]]) -> None:
    for case in vectors("inclusion-valid.json"):
        assert verify_inclusion(*inclusion_args(case)), case


def test_every_broken_inclusion_vector_is_rejected(vectors: Callable[[str], list[Case]]) -> None:
    for case in vectors("inclusion-invalid.json"):
        assert not verify_inclusion(*inclusion_args(case)), case["comment"]


def test_inclusion_proof_reproduces_the_valid_vectors(
    vectors: Callable[[str], list[Case]], vector_leaves: list[bytes]
) -> None:
    checked = 0
    for case in vectors("inclusion-valid.json"):
        tree = vector_leaves[: case["tree_size"]]
        if len(tree) < case["tree_size"] or tree_root(tree) != b64(case["root_hash"]):
            continue  # the vectors do not give this tree's leaves
        expected = [b64(node) for node in case["inclusion_path"]]
        assert inclusion_proof(tree, case["leaf_index"]) == expected, case
        checked += 1
    assert checked > 0


def test_inclusion_proofs_verify_for_every_leaf_of_every_small_tree() -> None:
    hashes = leaves(40)
    for size in range(1, 41):
        tree, root = hashes[:size], tree_root(hashes[:size])
        for index in range(size):
            proof = inclusion_proof(tree, index)
            assert verify_inclusion(tree[index], index, size, proof, root), (size, index)


def test_inclusion_proof_does_not_vouch_for_another_leaf_or_position() -> None:
    tree = leaves(13)
    root, proof = tree_root(tree), inclusion_proof(tree, 5)
    assert not verify_inclusion(tree[6], 5, 13, proof, root)
    assert not verify_inclusion(tree[5], 4, 13, proof, root)
    # A size with the same path shape proves nothing new (the signed tree
    # head binds size to root); a size with another shape must fail.
    assert not verify_inclusion(tree[5], 5, 8, proof, root)
    assert not verify_inclusion(tree[5], 5, 17, proof, root)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda a: (a[0][:31], *a[1:]), id="short leaf hash"),
        pytest.param(lambda a: (*a[:4], a[4] + b"\x00"), id="long root"),
        pytest.param(lambda a: (a[0], 13, *a[2:]), id="index equal to size"),
        pytest.param(lambda a: (a[0], -1, *a[2:]), id="negative index"),
        pytest.param(lambda a: (a[0], a[1], 0, *a[3:]), id="empty tree"),
        pytest.param(lambda a: (a[0], True, *a[2:]), id="bool index"),
        pytest.param(lambda a: (*a[:3], [*a[3], a[3][0]], a[4]), id="extra proof node"),
        pytest.param(lambda a: (*a[:3], a[3][:-1], a[4]), id="missing proof node"),
        pytest.param(lambda a: (*a[:3], [*a[3][:-1], b"x"], a[4]), id="short proof node"),
        pytest.param(lambda a: (*a[:3], [None], a[4]), id="proof node not bytes"),
        pytest.param(lambda a: (*a[:3], b"".join(a[3]), a[4]), id="proof as one byte string"),
        pytest.param(lambda a: (*a[:3], None, a[4]), id="proof missing"),
        pytest.param(lambda a: ("not bytes", *a[1:]), id="leaf hash not bytes"),
    ],
)
def test_inclusion_verifier_answers_false_to_malformed_input(broken: Callable[..., Any]) -> None:
    tree = leaves(13)
    args = (tree[5], 5, 13, inclusion_proof(tree, 5), tree_root(tree))
    assert verify_inclusion(*args)
    assert verify_inclusion(*broken(args)) is False


def test_inclusion_proof_refuses_an_index_outside_the_tree() -> None:
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(leaves(3), 3)


# --- consistency proofs -----------------------------------------------------


def test_every_valid_consistency_vector_is_accepted(vectors: Callable[[str], list[Case]]) -> None:
    for case in vectors("consistency-valid.json"):
        assert verify_consistency(*consistency_args(case)), case


def test_every_broken_consistency_vector_is_rejected(vectors: Callable[[str], list[Case]]) -> None:
    for case in vectors("consistency-invalid.json"):
        assert not verify_consistency(*consistency_args(case)), case["comment"]


def test_consistency_proof_reproduces_the_valid_vectors(
    vectors: Callable[[str], list[Case]], vector_leaves: list[bytes]
) -> None:
    checked = 0
    for case in vectors("consistency-valid.json"):
        tree = vector_leaves[: case["new_size"]]
        if len(tree) < case["new_size"] or tree_root(tree) != b64(case["new_root"]):
            continue  # the vectors do not give this tree's leaves
        expected = [b64(node) for node in case["consistency_path"]]
        assert consistency_proof(tree, case["old_size"]) == expected, case
        checked += 1
    assert checked > 0


def test_consistency_proofs_verify_for_every_pair_of_small_trees() -> None:
    hashes = leaves(33)
    for new_size in range(34):
        tree, new_root = hashes[:new_size], tree_root(hashes[:new_size])
        for old_size in range(new_size + 1):
            proof = consistency_proof(tree, old_size)
            old_root = tree_root(hashes[:old_size])
            assert verify_consistency(old_size, new_size, old_root, new_root, proof), (
                old_size,
                new_size,
            )


def test_consistency_fails_when_an_old_record_was_rewritten() -> None:
    original = leaves(20)
    rewritten = [*original[:3], leaf_hash(b"forged"), *original[4:]]
    old_root = tree_root(original[:7])
    proof = consistency_proof(rewritten, 7)
    assert not verify_consistency(7, 20, old_root, tree_root(rewritten), proof)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda a: (a[1], a[0], *a[2:]), id="sizes swapped"),
        # sizes that change the shape of the path; see the inclusion test above
        pytest.param(lambda a: (a[0], 40, *a[2:]), id="new size too big"),
        pytest.param(lambda a: (a[0], 12, *a[2:]), id="new size too small"),
        pytest.param(lambda a: (7, *a[1:]), id="old size off by one"),
        pytest.param(lambda a: (-1, *a[1:]), id="negative old size"),
        pytest.param(lambda a: (*a[:2], a[2][:16], *a[3:]), id="short old root"),
        pytest.param(lambda a: (*a[:4], [*a[4], a[4][0]]), id="extra proof node"),
        pytest.param(lambda a: (*a[:4], a[4][:-1]), id="missing proof node"),
        pytest.param(lambda a: (*a[:4], []), id="empty proof"),
        pytest.param(lambda a: (*a[:4], [b"\x00" * 33, *a[4][1:]]), id="long proof node"),
        pytest.param(lambda a: (*a[:4], "proof"), id="proof is a string"),
        pytest.param(lambda a: (*a[:2], a[3], a[2], a[4]), id="roots swapped"),
    ],
)
def test_consistency_verifier_answers_false_to_malformed_input(broken: Callable[..., Any]) -> None:
    tree = leaves(21)
    args = (6, 21, tree_root(tree[:6]), tree_root(tree), consistency_proof(tree, 6))
    assert verify_consistency(*args)
    assert verify_consistency(*broken(args)) is False


def test_consistency_proof_refuses_an_old_size_beyond_the_tree() -> None:
    with pytest.raises(ValueError, match="outside"):
        consistency_proof(leaves(3), 4)


# --- incremental accumulator ------------------------------------------------


def test_accumulator_root_equals_tree_root_for_every_size_up_to_70() -> None:
    hashes, accumulator = leaves(70), MerkleAccumulator()
    assert accumulator.root() == tree_root([])
    for size, leaf in enumerate(hashes, start=1):
        accumulator.append(leaf)
        assert accumulator.size == size
        assert accumulator.root() == tree_root(hashes[:size]), size


def test_accumulator_keeps_one_subtree_root_per_set_bit_of_its_size() -> None:
    accumulator = MerkleAccumulator()
    for leaf in leaves(45):
        accumulator.append(leaf)
    assert len(accumulator.subtree_roots) == bin(45).count("1")


def test_accumulator_resumed_from_saved_state_extends_the_same_tree() -> None:
    hashes, first = leaves(50), MerkleAccumulator()
    for leaf in hashes[:29]:
        first.append(leaf)
    resumed = MerkleAccumulator.resume(first.size, first.subtree_roots)
    for leaf in hashes[29:]:
        resumed.append(leaf)
    assert resumed.root() == tree_root(hashes)


def test_accumulator_refuses_a_saved_state_that_cannot_be_right() -> None:
    with pytest.raises(ValueError, match="subtree roots"):
        MerkleAccumulator.resume(3, [leaf_hash(b"a")])
    with pytest.raises(ValueError, match="32-byte"):
        MerkleAccumulator.resume(1, [b"short"])


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 33, 100])
def test_extending_by_many_leaves_builds_the_tree_that_appending_one_by_one_builds(
    chunk: int,
) -> None:
    hashes, extended = leaves(100), MerkleAccumulator()
    for start in range(0, 100, chunk):
        extended.extend(hashes[start : start + chunk])
        one_by_one = MerkleAccumulator()
        for leaf in hashes[: start + chunk]:
            one_by_one.append(leaf)
        assert extended.subtree_roots == one_by_one.subtree_roots
        assert extended.root() == reference_root(hashes[: start + chunk])
    assert extended.size == 100


def test_extending_a_resumed_accumulator_continues_its_tree() -> None:
    hashes, first = leaves(45), MerkleAccumulator()
    first.extend(hashes[:13])
    resumed = MerkleAccumulator.resume(first.size, first.subtree_roots)
    resumed.extend(hashes[13:])
    assert resumed.root() == reference_root(hashes)
