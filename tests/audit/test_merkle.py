"""RFC 9162 section 2.1: the Merkle tree hash, inclusion and consistency proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    ListHashes,
    consistency_proof,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 test inputs and roots (certificate-transparency reference test data).
INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def mth(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 section 2.1.1 (recursive, on leaf hashes)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def test_roots_match_the_reference_vectors():
    """RFC 9162 2.1.1: leaf H(0x00||d), node H(0x01||l||r), split at the largest 2^k < n."""
    leaves = [leaf_hash(d) for d in INPUTS]
    assert root_of([]) == EMPTY_ROOT
    f = Frontier()
    for size, expected in enumerate(ROOTS, 1):
        f.append(leaves[size - 1])
        assert f.root().hex() == expected
        assert mth(leaves[:size]).hex() == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_frontier_equals_rfc_mth_and_proofs_verify(n: int, data: st.DataObject):
    """RFC 9162 2.1.3 and 2.1.4: generated proofs verify; the frontier root is MTH."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    hashes = ListHashes(leaves)
    root = mth(leaves)
    assert root_of(leaves) == root
    index = data.draw(st.integers(0, n - 1))
    path = inclusion_path(index, n, hashes)
    assert verify_inclusion(leaves[index], index, n, path, root)
    assert not verify_inclusion(leaf_hash(b"other"), index, n, path, root)
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(m, n, hashes)
    assert verify_consistency(m, n, mth(leaves[:m]), root, proof)
    if m < n:
        assert not verify_consistency(m, n, leaf_hash(b"forged"), root, proof)
        assert not verify_consistency(m, n, mth(leaves[:m]), mth([*leaves[:-1], b"x" * 32]), proof)


def test_frontier_restored_from_its_parts_continues_the_same_tree():
    leaves = [leaf_hash(bytes([i])) for i in range(13)]
    f = Frontier()
    f.extend(leaves[:11])
    g = Frontier(f.size, f.hashes)
    g.extend(leaves[11:])
    assert g.root() == mth(leaves)
    assert [hi - lo for lo, hi in f.ranges()] == [8, 2, 1]


def test_proofs_over_a_pruned_prefix_use_its_frontier():
    """Inclusion proofs for retained leaves need only the pruned prefix's frontier."""
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(29)]
    pruned = Frontier()
    pruned.extend(leaves[:11])
    known = dict(zip(pruned.ranges(), pruned.hashes, strict=True))
    hashes = ListHashes(leaves[11:], offset=11, known=known)
    root = mth(leaves)
    for index in range(11, 29):
        path = inclusion_path(index, 29, hashes)
        assert verify_inclusion(leaves[index], index, 29, path, root)
    with pytest.raises(LookupError):
        inclusion_path(3, 29, hashes)
