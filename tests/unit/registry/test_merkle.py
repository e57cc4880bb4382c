"""RFC 6962/9162 Merkle tree: the Certificate Transparency reference vectors and a naive model.

Vectors: github.com/transparency-dev/merkle (Apache-2.0), testonly/constants.go (leaf inputs, node and
root hashes of the 8-leaf test tree, commit 582a6ad190b6848f1d26f8bf08ddef29955d9db1) and
proof/verify_test.go (inclusion and consistency paths, commit 02194e9afb6c1d95b5381350007963aa70fff472);
the same vectors as certificate-transparency-go's merkletree tests. In verify_test.go the inclusion
vectors name leaves 1-based; they are 0-based here.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.core.merkle import (
    EMPTY_ROOT,
    CompactTree,
    MerkleError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from mlwarden.registry.audit import ProofError

h = bytes.fromhex

LEAF_INPUTS = [h(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                              "606162636465666768696a6b6c6d6e6f"]]  # fmt: skip
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),  # empty tree
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
LEAF_HASHES = [  # level 0 of NodeHashes()
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]
INCLUSION = [  # (0-based index, size, path)
    (0, 1, []),
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
]  # fmt: skip
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
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


def test_leaf_hashes_and_roots_match_the_reference_tree() -> None:
    leaves = [leaf_hash(x) for x in LEAF_INPUTS]
    assert leaves == LEAF_HASHES
    assert root_of([]) == EMPTY_ROOT == ROOTS[0]
    tree = CompactTree()
    assert tree.root() == ROOTS[0]
    for n in range(1, 9):
        assert root_of(leaves[:n]) == ROOTS[n], n
        tree.append(leaves[n - 1])
        assert tree.root() == ROOTS[n], n
        assert len(tree.frontier) == n.bit_count()
        assert CompactTree.from_bytes(n, tree.to_bytes()).root() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(LEAF_HASHES, index, size)
    assert proof == [h(p) for p in path]
    verify_inclusion(LEAF_HASHES[index], index, size, proof, ROOTS[size])
    for wrong_index in {index - 1, index + 1, index ^ 2} - {index}:
        if 0 <= wrong_index < size:
            with pytest.raises(ProofError):
                verify_inclusion(LEAF_HASHES[index], wrong_index, size, proof, ROOTS[size])
    with pytest.raises(ProofError):
        verify_inclusion(b"\x00" * 32, index, size, proof, ROOTS[size])
    with pytest.raises(ProofError):
        verify_inclusion(LEAF_HASHES[index], index, size, [*proof, ROOTS[size]], ROOTS[size])
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        with pytest.raises(ProofError):
            verify_inclusion(LEAF_HASHES[index], index, size, bad, ROOTS[size])
    if proof:
        with pytest.raises(ProofError):
            verify_inclusion(LEAF_HASHES[index], index, size, proof[:-1], ROOTS[size])


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(LEAF_HASHES, old, new)
    assert proof == [h(p) for p in path]
    verify_consistency(old, new, proof, ROOTS[old], ROOTS[new])
    if not proof:
        return
    for bad_old, bad_new in [(old - 1, new), (old + 1, new), (old, new * 2), (old, new // 2)]:
        if 0 < bad_old <= bad_new and (bad_old, bad_new) != (old, new):
            with pytest.raises(ProofError):
                verify_consistency(bad_old, bad_new, proof, ROOTS[old], ROOTS[new])
    with pytest.raises(ProofError):
        verify_consistency(old, new, proof, ROOTS[new], ROOTS[old])
    with pytest.raises(ProofError):
        verify_consistency(old, new, [], ROOTS[old], ROOTS[new])
    with pytest.raises(ProofError):
        verify_consistency(old, new, proof[:-1], ROOTS[old], ROOTS[new])
    with pytest.raises(ProofError):
        verify_consistency(old, new, [*proof, ROOTS[old]], ROOTS[old], ROOTS[new])
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        with pytest.raises(ProofError):
            verify_consistency(old, new, bad, ROOTS[old], ROOTS[new])


def test_edge_cases() -> None:
    verify_consistency(0, 5, [], EMPTY_ROOT, ROOTS[5])
    verify_consistency(3, 3, [], ROOTS[3], ROOTS[3])
    with pytest.raises(ProofError):
        verify_consistency(3, 3, [], ROOTS[3], ROOTS[4])
    with pytest.raises(ProofError):
        verify_consistency(4, 3, [], ROOTS[4], ROOTS[3])
    with pytest.raises(MerkleError):
        inclusion_proof(LEAF_HASHES, 8, 8)
    with pytest.raises(MerkleError):
        consistency_proof(LEAF_HASHES, 3, 9)
    with pytest.raises(ProofError):
        root_from_inclusion_proof(LEAF_HASHES[0], 0, 0, [])
    with pytest.raises(ProofError):
        verify_inclusion(LEAF_HASHES[0], 0, 2, [b"short"], ROOTS[2])
    with pytest.raises(ProofError):
        CompactTree(3, [EMPTY_ROOT])  # size 3 needs two subtree roots


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, recursively, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


def naive_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) over raw entries."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_root(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_root(leaves[:k])]


def naive_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [naive_root(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], b), naive_root(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_root(leaves[:k])]


entries = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(entries, st.data())
def test_against_the_naive_definitions(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [leaf_hash(x) for x in data]
    n = len(leaves)
    size = draw.draw(st.integers(1, n))
    index = draw.draw(st.integers(0, size - 1))
    old = draw.draw(st.integers(1, size))
    assert root_of(leaves, 0, size) == naive_root(data[:size])
    tree = CompactTree()
    for leaf in leaves[:size]:
        tree.append(leaf)
    assert tree.root() == naive_root(data[:size])
    path = inclusion_proof(leaves, index, size)
    assert path == naive_path(index, data[:size])
    verify_inclusion(leaves[index], index, size, path, naive_root(data[:size]))
    proof = consistency_proof(leaves, old, size)
    assert proof == ([] if old == size else naive_subproof(old, data[:size], True))
    verify_consistency(old, size, proof, naive_root(data[:old]), naive_root(data[:size]))
    if old < size:
        with pytest.raises(ProofError):
            verify_consistency(old, size, proof, naive_root(data[:old]), naive_root(data[: size - 1]))


def test_node_hash_domain_separation() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert leaf_hash(a + b) != node_hash(a, b)
