"""A batch of writes applied to an existing Merkle-Patricia trie in one walk.

py-evm writes a block's storage changes into each account's trie key by key
(``trie.HexaryTrie``): every write decodes the nodes on its path, rebuilds and
re-hashes each of them up to the root, and prunes the ones it replaced. A
token's storage takes two writes per transfer, so a 1,000-transfer block
rebuilds the top of that trie 2,000 times. Here the changed keys are sorted
and the trie is walked once: each node on a changed path is read and decoded
once, and rebuilt, encoded and hashed once. The result is the same trie, so
the same root: the nodes follow the Yellow Paper's rules (appendix D), as
:mod:`vm.ordered_trie` builds them, and a branch left with a single child is
folded into its neighbours exactly as a key-by-key deletion folds it.

Every key has the same length (32-byte hashes, as in storage and account
tries), so no key is a prefix of another and no branch holds a value.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import rlp

from vm.encoding import encode_node
from vm.native import keccak_256
from vm.ordered_trie import BLANK_ROOT, hex_prefix, key_nibbles, reference, split_path, subtrie

BLANK = b""

#: A raw node: BLANK (b""), or an RLP list (a 2-item leaf or extension, or a 17-item branch).
#: Code tells them apart by value (``node == BLANK``, ``len(node) == 17``), which mypy cannot follow.
TrieNode = Any


def update_trie(read_node: Callable[[bytes], bytes], root_hash: bytes,
                changes: Mapping[bytes, bytes | None]) -> tuple[bytes, dict[bytes, bytes]]:
    """The root after ``changes`` (key -> new value; ``b""`` or ``None`` deletes the key), and the new nodes.

    ``read_node`` gives the encoded node for a hash. The new nodes are keyed
    by their hash; the root is always among them (unless the trie is empty),
    as ``HexaryTrie`` stores it.
    """
    if not changes:
        return root_hash, {}
    length = len(next(iter(changes)))
    if any(len(key) != length for key in changes):
        raise ValueError("every key of the trie must have the same length")
    entries = sorted((key_nibbles(key), value or BLANK) for key, value in changes.items())
    keys = [key for key, _ in entries]
    values = [value for _, value in entries]
    nodes: dict[bytes, bytes] = {}
    walk = _Walk(read_node, keys, values, nodes)
    root = BLANK if root_hash == BLANK_ROOT else walk.resolve(root_hash)
    new_root = walk.update(root, 0, len(keys), 0)
    if new_root == BLANK:
        return BLANK_ROOT, nodes
    encoded = encode_node(new_root)
    new_root_hash = keccak_256(encoded).digest()
    nodes[new_root_hash] = encoded
    return new_root_hash, nodes


class _Walk:
    """One batch: sorted ``keys`` (nibbles) with their new ``values`` (``b""`` to delete)."""

    def __init__(self, read_node: Callable[[bytes], bytes], keys: list[tuple[int, ...]], values: list[bytes],
                 nodes: dict[bytes, bytes]) -> None:
        self.read_node, self.keys, self.values, self.nodes = read_node, keys, values, nodes

    def resolve(self, reference: TrieNode) -> TrieNode:
        """The raw node a parent's slot refers to: blank, embedded, or by hash."""
        if isinstance(reference, list) or reference == BLANK:
            return reference
        return rlp.decode(self.read_node(reference))

    def update(self, node: TrieNode, low: int, high: int, depth: int) -> TrieNode:
        """``node`` (at ``depth`` nibbles) with ``keys[low:high]`` written; a raw node whose children are references."""
        if node == BLANK:
            return self._fresh(low, high, depth, {})
        if len(node) == 17:
            return self._update_branch(node, low, high, depth, {})
        path, is_leaf = split_path(node[0])
        if is_leaf:  # one key, merged with the batch
            return self._fresh(low, high, depth, {self.keys[low][:depth] + path: node[1]})
        end = depth + len(path)
        if all(self.keys[index][depth:end] == path for index in range(low, high)):
            return _extend(path, self.update(self.resolve(node[1]), low, high, end), self.nodes)
        # A key leaves the extension's path: the same node written as a branch, then updated.
        branch: list = [BLANK] * 17
        if len(path) == 1:
            branch[path[0]] = node[1]
            return self._update_branch(branch, low, high, depth, {})
        return self._update_branch(branch, low, high, depth, {path[0]: [hex_prefix(path[1:], False), node[1]]})

    def _fresh(self, low: int, high: int, depth: int, existing: dict[tuple[int, ...], bytes]) -> TrieNode:
        """A new subtrie from ``existing`` entries overwritten by the batch's (deletions dropped)."""
        merged = dict(existing)
        merged.update(zip(self.keys[low:high], self.values[low:high], strict=True))
        entries = sorted((key, value) for key, value in merged.items() if value)
        if not entries:
            return BLANK
        return subtrie([key for key, _ in entries], [value for _, value in entries], 0, len(entries), depth,
                       self.nodes)

    def _update_branch(self, node: list, low: int, high: int, depth: int,
                       rebuilt: dict[int, TrieNode]) -> TrieNode:
        """``rebuilt`` holds children given as raw nodes, not yet referred to (by hash or embedded)."""
        children = list(node[:16])
        keys, index = self.keys, low
        while index < high:
            nibble = keys[index][depth]
            end = index + 1
            while end < high and keys[end][depth] == nibble:
                end += 1
            child = rebuilt[nibble] if nibble in rebuilt else self.resolve(children[nibble])
            rebuilt[nibble] = self.update(child, index, end, depth + 1)
            index = end
        for nibble, child in rebuilt.items():
            children[nibble] = child
        occupied = [nibble for nibble in range(16) if children[nibble] != BLANK]
        if not occupied:
            return BLANK
        if len(occupied) == 1:  # fold the branch into its only child
            nibble = occupied[0]
            child = rebuilt[nibble] if nibble in rebuilt else self.resolve(children[nibble])
            return _extend((nibble,), child, self.nodes)
        for nibble, child in rebuilt.items():
            if child != BLANK:
                children[nibble] = reference(child, self.nodes)
        return children + [BLANK]


def _extend(path: tuple[int, ...], child: TrieNode, nodes: dict[bytes, bytes]) -> TrieNode:
    """``path`` followed by ``child``: one node, as the trie's rules have it.

    No extension above a leaf or extension.
    """
    if child == BLANK:
        return BLANK
    if len(child) == 17:
        return [hex_prefix(path, False), reference(child, nodes)]
    child_path, is_leaf = split_path(child[0])
    return [hex_prefix(path + child_path, is_leaf), child[1]]
