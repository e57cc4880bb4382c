"""RFC 6962 / RFC 9162 Merkle trees: hashing, proofs, their verification, and an incremental tree.

Leaves are ``SHA-256(0x00 || data)`` and interior nodes ``SHA-256(0x01 || left || right)``; the tree of
``n`` leaves splits at the largest power of two smaller than ``n`` (RFC 9162 §2.1.1). The domain
separation byte is what stops a leaf from posing as a node (second-preimage attacks on the tree).

Used by the registry's audit log and by dataset manifests (``mlwarden data manifest``). Proof generation
follows the recursive definitions of RFC 9162 §2.1.3.1 (``PATH``) and §2.1.4.1
(``SUBPROOF``) over a sequence of leaf hashes; verification follows the iterative algorithms of §2.1.3.2
and §2.1.4.2 word for word, so a proof produced elsewhere (Trillian, Tessera, sumdb) checks here too.
:class:`CompactTree` keeps only the roots of the perfect subtrees ("frontier", one per set bit of the
size), so an append is O(log n) and the root of size n needs no rehashing of the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from mlwarden.errors import MlwardenError


class MerkleError(MlwardenError):
    """A proof was asked for an index or sizes the tree does not have (a usage error)."""


class ProofError(MerkleError):
    """A Merkle inclusion or consistency proof does not verify."""

    exit_code = 1


HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_sha256 = hashlib.sha256
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one log entry."""
    return _sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node."""
    return _sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes], start: int = 0, end: int | None = None) -> bytes:
    """MTH of ``leaf_hashes[start:end]`` in O(n) time and O(log n) memory (via a compact tree)."""
    stop = len(leaf_hashes) if end is None else end
    if stop <= start:
        return EMPTY_ROOT
    tree = CompactTree()
    for i in range(start, stop):
        tree.append(leaf_hashes[i])
    return tree.root()


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """``PATH(index, D[0:size])`` (RFC 9162 §2.1.3.1): the audit path of leaf ``index`` in the tree of
    ``size`` leaves, ordered from the leaf up."""
    if not 0 <= index < size <= len(leaf_hashes):
        raise MerkleError(
            f"no inclusion proof for index {index} in a tree of size {size}",
            hint=f"use 0 <= index < size <= {len(leaf_hashes)}",
        )
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    # The recursion PATH(m, D[lo:hi]) appends the sibling subtree root after the inner path, so
    # collect siblings top-down and reverse at the end.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(root_of(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(root_of(leaf_hashes, lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int, new_size: int) -> list[bytes]:
    """``PROOF(old_size, D[0:new_size])`` (RFC 9162 §2.1.4.1); empty when the sizes are equal or
    ``old_size`` is 0 (every tree is consistent with the empty tree)."""
    if not 0 <= old_size <= new_size <= len(leaf_hashes):
        raise MerkleError(
            f"no consistency proof from size {old_size} to {new_size}",
            hint=f"use 0 <= old <= new <= {len(leaf_hashes)}",
        )
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(root_of(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(root_of(leaf_hashes, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(root_of(leaf_hashes, lo, hi))
    proof.reverse()
    return proof


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from leaf hash ``leaf`` (RFC 9162 §2.1.3.2, steps 1-3)."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}", hint="check the proof's size")
    _check_lengths([leaf, *proof])
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long", hint="the proof is not for this index and size")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short", hint="the proof is not for this index and size")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows leaf hash ``leaf`` at ``index`` under ``root``."""
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        raise ProofError(
            f"inclusion proof for index {index} does not lead to the root of size {size}",
            hint="the entry, the proof or the root is not the log's",
        )


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows the tree ``old_root`` (``old_size`` leaves) is a
    prefix of ``new_root`` (``new_size`` leaves), per RFC 9162 §2.1.4.2."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"sizes {old_size} > {new_size}", hint="a log never shrinks")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need an empty proof and equal roots", hint="check both roots")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty", hint="drop the proof")
        return
    if not proof:
        raise ProofError("empty consistency proof", hint="the proof is missing")
    _check_lengths(proof)
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long", hint="the proof is not for these sizes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError(
            f"consistency proof from size {old_size} to {new_size} does not verify",
            hint="the two roots are not views of one append-only log",
        )


def _check_lengths(hashes: Iterable[bytes]) -> None:
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ProofError("a proof hash is not 32 bytes", hint="proof hashes are SHA-256 digests")


class CompactTree:
    """An append-only RFC 6962 tree that keeps only its frontier: the roots of the perfect subtrees,
    left to right, one per set bit of :attr:`size` (largest first).

    This is what the database stores beside the entries so an append reads and writes O(log n)
    hashes, and what ``verify`` replays to get the root at every checkpointed size in one pass.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if len(frontier) != size.bit_count() or any(len(h) != HASH_SIZE for h in frontier):
            raise ProofError(
                f"a frontier of {len(frontier)} hash(es) does not describe a tree of size {size}",
                hint="the stored head of the audit log is corrupt; rebuild it from the entries",
            )
        self.size = size
        self._nodes = list(frontier)

    @classmethod
    def from_bytes(cls, size: int, packed: bytes) -> CompactTree:
        """A tree from :meth:`to_bytes` output (the concatenated frontier hashes)."""
        nodes = [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)]
        return cls(size, nodes)

    def to_bytes(self) -> bytes:
        """The frontier hashes, concatenated (``32 * popcount(size)`` bytes)."""
        return b"".join(self._nodes)

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """The perfect-subtree roots, largest (leftmost) first."""
        return tuple(self._nodes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash: merge with the equal-sized subtrees on the right edge, O(log n)."""
        nodes, h, s = self._nodes, leaf, self.size
        while s & 1:
            h = _sha256(_NODE + nodes.pop() + h).digest()
            s >>= 1
        nodes.append(h)
        self.size += 1

    def root(self) -> bytes:
        """MTH of the leaves so far: fold the frontier from the right (O(log n))."""
        if not self._nodes:
            return EMPTY_ROOT
        r = self._nodes[-1]
        for h in reversed(self._nodes[:-1]):
            r = _sha256(_NODE + h + r).digest()
        return r

    def copy(self) -> CompactTree:
        """An independent copy."""
        return CompactTree(self.size, self._nodes)
