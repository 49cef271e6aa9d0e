"""A Merkle tree over the access log, as Certificate Transparency defines it (RFC 6962 §2.1,
kept unchanged by RFC 9162 §2.1): tree heads, inclusion proofs and consistency proofs, and the
verifiers an outside auditor runs.

Hashes (SHA-256), with the domain-separation prefixes that stop a leaf passing for a node::

    leaf  = SHA-256(0x00 || entry bytes)
    node  = SHA-256(0x01 || left || right)
    MTH({}) = SHA-256("")          MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))

where ``k`` is the largest power of two smaller than ``n``. Functions here take the *leaf hashes*
(``leaf_hash(entry)``) of entries ``0 … n-1``; indexes are 0-based, as in the RFC.

Example (the RFC's reference tree of 8 leaves):
    >>> leaves = [leaf_hash(bytes.fromhex(x)) for x in
    ...           ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    ...            "606162636465666768696a6b6c6d6e6f"]]
    >>> root_hash(leaves).hex()[:16]
    '5dc9da79a70659a9'
    >>> tree = MerkleTree(leaves)
    >>> verify_inclusion(leaves[5], 5, 8, tree.inclusion_proof(5), tree.root())
    True
    >>> verify_consistency(6, 8, tree.consistency_proof(6), tree.root(6), tree.root())
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """The tree over leaf hashes ``leaves``: heads, inclusion and consistency proofs at any size.

    Every subtree the RFC's recursion names, ``D[a:b]``, is a perfect subtree on its left
    (``a`` is a multiple of its left part's size), so keeping the hashes of the perfect
    subtrees, level by level (O(n) hashes, once), makes any head or proof O(log² n) instead of
    rehashing the log each time.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.size = len(leaves)
        self._levels: list[list[bytes]] = [list(leaves)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append([node_hash(below[i], below[i + 1])
                                 for i in range(0, len(below) - 1, 2)])

    def _mth(self, a: int, b: int) -> bytes:
        """MTH(D[a:b]) for a subtree of the RFC's recursion."""
        n = b - a
        if n & (n - 1) == 0 and a % n == 0:  # a perfect subtree: kept
            return self._levels[n.bit_length() - 1][a // n]
        k = _split(n)
        return node_hash(self._mth(a, a + k), self._mth(a + k, b))

    def _check(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"the tree holds {self.size} leaves, not {size}")

    def root(self, size: int | None = None) -> bytes:
        """The head of the tree of the first ``size`` leaves (all by default)."""
        size = self.size if size is None else size
        self._check(size)
        return EMPTY_ROOT if size == 0 else self._mth(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 6962
        §2.1.1), from the leaf's sibling up to the root's child."""
        size = self.size if size is None else size
        self._check(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        path: list[bytes] = []
        a, b = 0, size
        while b - a > 1:  # PATH(m, D[a:b]) = PATH(m, one half) + [the other half's head]
            k = _split(b - a)
            if index < a + k:
                path.append(self._mth(a + k, b))
                b = a + k
            else:
                path.append(self._mth(a, a + k))
                a += k
        return path[::-1]

    def consistency_proof(self, first: int, size: int | None = None) -> list[bytes]:
        """The proof that the tree of ``first`` leaves is a prefix of the tree of ``size``
        leaves (RFC 6962 §2.1.2). Empty when ``first`` is 0 or ``size``."""
        size = self.size if size is None else size
        self._check(size)
        if not 0 <= first <= size:
            raise ValueError(f"a tree of {size} leaves has no prefix of {first}")
        if first in (0, size):
            return []
        path: list[bytes] = []
        a, b, m, whole = 0, size, first, True
        while m != b - a:  # SUBPROOF(m, D[a:b], whole)
            k = _split(b - a)
            if m <= k:
                path.append(self._mth(a + k, b))
                b = a + k
            else:
                path.append(self._mth(a, a + k))
                a, m, whole = a + k, m - k, False
        if not whole:
            path.append(self._mth(a, b))
        return path[::-1]


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf hashes ``leaves`` (RFC 6962 §2.1)."""
    return MerkleTree(leaves).root()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree of ``size`` leaves
    whose head is ``root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes,
                       second_root: bytes) -> bool:
    """Whether ``proof`` shows the tree of ``first`` leaves (head ``first_root``) to be a
    prefix of the tree of ``second`` leaves (head ``second_root``) (RFC 9162 §2.1.4.2)."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old head is itself a node of the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0
