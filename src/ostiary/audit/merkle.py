"""The RFC 9162 Merkle tree: hashes, incremental roots, inclusion and consistency proofs.

Leaf hash ``H(0x00 || entry)``, node hash ``H(0x01 || left || right)`` (section 2.1.1).
For ``n`` leaves the tree splits at ``k``, the largest power of two smaller than ``n``, so
a tree of any size is well-defined and a larger tree extends a smaller one.

Proofs are computed over a :class:`RangeHashes` source, which yields the hash of any
subtree ``[lo, hi)``; the store implements it on top of the leaf hashes it keeps (and, once
a prefix is pruned, the frontier of that prefix).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _perfect_root(leaves: list[bytes]) -> bytes:
    """The root of a perfect subtree (``len(leaves)`` is a power of two)."""
    level = leaves
    while len(level) > 1:
        pairs = iter(level)
        level = [
            _sha256(b"\x01" + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
    return level[0]


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The roots of the perfect subtrees that make up the first ``size`` leaves, largest
    first (a "compact range"): one per set bit of ``size``. Appending costs one hash
    amortised; the root of the tree so far folds the frontier from the right, which is
    exactly RFC 9162's MTH."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != size.bit_count():
            raise ValueError("a frontier needs one hash per set bit of its size")

    @property
    def heights(self) -> list[int]:
        return frontier_heights(self.size)

    def append(self, leaf: bytes) -> None:
        # Each trailing one bit of the old size is a subtree the new leaf completes.
        n, hashes, h = self.size, self.hashes, leaf
        while n & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            n >>= 1
        hashes.append(h)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append many leaves: aligned blocks are hashed level by level (a list
        comprehension per level, not a Python call per leaf), then joined to the
        frontier as one perfect subtree each. Same result as appending one by one."""
        block = leaves if isinstance(leaves, list) else list(leaves)
        at, end = 0, len(block)
        while at < end:
            k = 1 << ((end - at).bit_length() - 1)  # the largest power of two that fits
            if self.size:
                k = min(k, self.size & -self.size)  # and keeps the subtree aligned
            self._push(_perfect_root(block[at : at + k]), k)
            at += k

    def _push(self, h: bytes, k: int) -> None:
        """Add a perfect subtree of ``k`` (a power of two dividing ``size``) leaves."""
        n, hashes = self.size // k, self.hashes
        while n & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            n >>= 1
        hashes.append(h)
        self.size += k

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            root = node_hash(h, root)
        return root

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def ranges(self) -> list[tuple[int, int]]:
        """The ``[lo, hi)`` leaf range each frontier hash covers."""
        out, lo = [], 0
        for height in self.heights:
            out.append((lo, lo + (1 << height)))
            lo += 1 << height
        return out


def frontier_heights(size: int) -> list[int]:
    return [b for b in range(size.bit_length() - 1, -1, -1) if size >> b & 1]


def root_of(leaves: Sequence[bytes]) -> bytes:
    f = Frontier()
    f.extend(leaves)
    return f.root()


class RangeHashes(Protocol):
    def __call__(self, lo: int, hi: int) -> bytes:
        """MTH of the leaves ``[lo, hi)``."""
        ...


class ListHashes:
    """Subtree hashes over leaf hashes held in memory (``offset`` = index of ``leaves[0]``),
    with optional precomputed subtrees (a pruned prefix's frontier)."""

    def __init__(
        self,
        leaves: Sequence[bytes],
        offset: int = 0,
        known: dict[tuple[int, int], bytes] | None = None,
    ) -> None:
        self._leaves = leaves
        self._offset = offset
        self._known = known or {}

    def __call__(self, lo: int, hi: int) -> bytes:
        known = self._known.get((lo, hi))
        if known is not None:
            return known
        if lo < self._offset:
            if hi - lo < 2:
                raise LookupError(f"leaf {lo} has been pruned")
            k = split_point(hi - lo)
            return node_hash(self(lo, lo + k), self(lo + k, hi))
        start, end = lo - self._offset, hi - self._offset
        return root_of(self._leaves[start:end])


def inclusion_path(index: int, size: int, hashes: RangeHashes, lo: int = 0) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 section 2.1.3.1, for leaf ``index`` in a tree of ``size``."""
    n = size
    if n <= 1:
        return []
    k = split_point(n)
    if index < k:
        return [*inclusion_path(index, k, hashes, lo), hashes(lo + k, lo + n)]
    return [*inclusion_path(index - k, n - k, hashes, lo + k), hashes(lo, lo + k)]


def consistency_proof(first: int, second: int, hashes: RangeHashes) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1."""
    if not 0 < first <= second:
        raise ValueError("a consistency proof needs 0 < first <= second")
    return _subproof(first, 0, second, True, hashes)


def _subproof(m: int, lo: int, n: int, whole: bool, hashes: RangeHashes) -> list[bytes]:
    if m == n:
        return [] if whole else [hashes(lo, lo + n)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(m, lo, k, whole, hashes), hashes(lo + k, lo + n)]
    return [*_subproof(m - k, lo + k, n - k, False, hashes), hashes(lo, lo + k)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is itself a node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
