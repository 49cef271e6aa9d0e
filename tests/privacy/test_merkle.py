"""The access log's Merkle tree against RFC 6962's reference vectors, by hand, and by property."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from belvedere.privacy.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# The reference tree of Certificate Transparency's test suites (the leaves' inputs, and the
# heads of the trees of their first 0…8 leaves).
INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
          "606162636465666768696a6b6c6d6e6f"]
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in INPUTS]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf, tree size, path) and (first, second, proof) from the same suites.
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962's definition, word for word: the oracle the kept-subtree tree is checked on."""
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return _sha(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def test_heads_match_the_rfc_reference_tree_at_every_size() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    tree = MerkleTree(LEAVES)
    for n in range(9):
        assert root_hash(LEAVES[:n]).hex() == ROOTS[n]
        assert tree.root(n).hex() == ROOTS[n]


def test_a_three_leaf_tree_computed_by_hand() -> None:
    a, b, c = b"a", b"b", b"c"
    la, lb, lc = (_sha(b"\x00" + x) for x in (a, b, c))
    assert [leaf_hash(x) for x in (a, b, c)] == [la, lb, lc]
    left = _sha(b"\x01" + la + lb)
    assert node_hash(la, lb) == left
    assert root_hash([la, lb, lc]) == _sha(b"\x01" + left + lc)
    # Leaf c's path is its sibling subtree (a, b); leaf a's is b, then c.
    tree = MerkleTree([la, lb, lc])
    assert tree.inclusion_proof(2) == [left]
    assert tree.inclusion_proof(0) == [lb, lc]
    # From the tree (a, b) to (a, b, c): the old head is a node of the new tree; only c is new.
    assert tree.consistency_proof(2) == [lc]
    assert tree.consistency_proof(1) == [lb, lc]


def test_inclusion_proofs_match_the_reference_vectors() -> None:
    for index, size, path in INCLUSION:
        proof = MerkleTree(LEAVES).inclusion_proof(index, size)
        assert [p.hex() for p in proof] == path
        root = bytes.fromhex(ROOTS[size])
        assert verify_inclusion(LEAVES[index], index, size, proof, root)
        assert not verify_inclusion(LEAVES[index], index, size, proof, EMPTY_ROOT)
        assert not verify_inclusion(LEAVES[index], index + 1, size, proof, root)


def test_consistency_proofs_match_the_reference_vectors() -> None:
    for first, second, path in CONSISTENCY:
        proof = MerkleTree(LEAVES).consistency_proof(first, second)
        assert [p.hex() for p in proof] == path
        old, new = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
        assert verify_consistency(first, second, proof, old, new)
        if first != second:
            assert not verify_consistency(first, second, proof, bytes.fromhex(ROOTS[first - 1]),
                                          new)
            assert not verify_consistency(first, second, proof, old, bytes.fromhex(ROOTS[3]))


def test_edge_cases_are_refused_or_trivial() -> None:
    assert verify_consistency(0, 5, [], EMPTY_ROOT, bytes.fromhex(ROOTS[5]))
    assert not verify_consistency(0, 5, [LEAVES[0]], EMPTY_ROOT, bytes.fromhex(ROOTS[5]))
    assert not verify_consistency(5, 3, [], bytes.fromhex(ROOTS[5]), bytes.fromhex(ROOTS[3]))
    assert not verify_consistency(3, 5, [], bytes.fromhex(ROOTS[3]), bytes.fromhex(ROOTS[5]))
    assert not verify_inclusion(LEAVES[0], 0, 0, [], EMPTY_ROOT)
    assert verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])


# Distinct entries: with two equal leaves, one proof rightly serves both places.
leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True).map(
    lambda xs: [leaf_hash(x) for x in xs])


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_inclusion_proof_verifies_and_a_changed_leaf_does_not(
        leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    root = root_hash(leaves)
    index = data.draw(st.integers(0, n - 1))
    tree = MerkleTree(leaves)
    proof = tree.inclusion_proof(index)
    assert len(proof) <= n.bit_length()
    assert verify_inclusion(leaves[index], index, n, proof, root)
    # In an older, smaller tree too.
    size = data.draw(st.integers(index + 1, n))
    assert verify_inclusion(leaves[index], index, size, tree.inclusion_proof(index, size),
                            _mth(leaves[:size]))
    assert not verify_inclusion(leaf_hash(b"forged" + leaves[index]), index, n, proof, root)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index))
        assert not verify_inclusion(leaves[index], other, n, proof, root)


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_prefix_is_provably_consistent_and_a_rewritten_past_is_not(
        leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    first = data.draw(st.integers(1, n))
    tree = MerkleTree(leaves)
    # The kept subtrees give the heads of the RFC's definition.
    assert tree.root(first) == _mth(leaves[:first]) and tree.root() == _mth(leaves)
    heads = {first: tree.root(first), n: tree.root()}
    proof = tree.consistency_proof(first)
    assert verify_consistency(first, n, proof, heads[first], heads[n])
    # A log that rewrote one entry of the old tree cannot prove the old head to be its prefix.
    changed = data.draw(st.integers(0, first - 1))
    rewritten = [*leaves[:changed], leaf_hash(b"rewritten"), *leaves[changed + 1:]]
    new_root = root_hash(rewritten)
    assert not verify_consistency(first, n, MerkleTree(rewritten).consistency_proof(first),
                                  heads[first], new_root)
