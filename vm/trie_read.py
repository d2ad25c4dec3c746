"""A key read from a Merkle-Patricia trie, with its inner nodes decoded once.

py-evm reads each storage slot the first time a block touches it through a
new ``trie.HexaryTrie``: every read fetches and RLP-decodes every node from the
root down. A token's 2,000 slot reads per block decode the same few hundred
inner nodes thousands of times. :func:`trie_get` walks the same path by the
same rules, and keeps inner (branch and extension) nodes decoded in a
bounded cache keyed by their hash. A node's hash fixes its content, so a
cached node is the node the database holds under that hash.

Every block that writes a slot replaces the inner nodes on its path, so the
cache gains a few nodes a block (five for a block of token transfers) that no
later read asks for again. It is therefore kept in two generations: a node
read is kept in the young one (moved there from the old one when it is asked
for again), and when the young one holds half the limit it becomes the old
one and the old one is dropped. The nodes of the current tries stay, those of
superseded tries go within two generations, and the cache never holds more
than ``[storage] trie_node_cache`` nodes (about 1 KB each). It used to be
emptied only at 50,000 nodes: about 50 MB that a node at one block a second
took three hours to fill, which a soak saw as linear growth (issue 26).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rlp

from vm.ordered_trie import BLANK_ROOT, key_nibbles, split_path

DEFAULT_NODE_CACHE = 4096
"""Inner nodes kept decoded, at most (``[storage] trie_node_cache``); about 1 KB each."""


class NodeCache:
    """Decoded inner nodes by hash, in two generations of at most ``limit / 2`` nodes each.

    Shared by the consensus thread and RPC worker threads: each step is one dict operation
    under the GIL, and a race costs at most a node decoded twice or dropped early.
    """

    def __init__(self, limit: int = DEFAULT_NODE_CACHE) -> None:
        self._young: dict[bytes, Any] = {}
        self._old: dict[bytes, Any] = {}
        self._generation = 1
        self.set_limit(limit)

    def set_limit(self, limit: int) -> None:
        """Hold at most ``limit`` nodes (at least 2); what the cache holds now is dropped."""
        if limit < 2:
            raise ValueError(f"trie node cache limit must be at least 2, not {limit}")
        self._generation = limit // 2
        self.clear()

    def get(self, node_hash: bytes) -> Any:
        node = self._young.get(node_hash)
        if node is None:
            node = self._old.pop(node_hash, None)
            if node is not None:
                self.put(node_hash, node)
        return node

    def put(self, node_hash: bytes, node: Any) -> None:
        if len(self._young) >= self._generation:
            self._old, self._young = self._young, {}
        self._young[node_hash] = node

    def clear(self) -> None:
        self._young, self._old = {}, {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


node_cache = NodeCache()
"""The process's cache; the node sizes it from its config at start-up (``node.service.run_node``)."""


def trie_get(read_node: Callable[[bytes], bytes], root_hash: bytes, key: bytes) -> bytes:
    """The value under ``key`` (``b""`` if absent), as ``HexaryTrie(db, root_hash)[key]`` gives it.

    ``read_node`` gives the encoded node for a hash; a missing node raises its ``KeyError``.
    """
    if root_hash == BLANK_ROOT:
        return b""
    nibbles = key_nibbles(key)
    node = _node(read_node, root_hash)
    depth = 0
    while True:
        if node == b"":
            return b""
        if len(node) == 17:
            if depth == len(nibbles):
                return node[16]
            reference = node[nibbles[depth]]
            depth += 1
        else:
            path, is_leaf = split_path(node[0])
            if is_leaf:
                return node[1] if nibbles[depth:] == path else b""
            end = depth + len(path)
            if nibbles[depth:end] != path:
                return b""
            reference, depth = node[1], end
        node = reference if isinstance(reference, list) or reference == b"" else _node(read_node, reference)


def _node(read_node: Callable[[bytes], bytes], node_hash: bytes) -> Any:
    node = node_cache.get(node_hash)
    if node is None:
        node = rlp.decode(read_node(node_hash))
        if len(node) == 17 or not split_path(node[0])[1]:  # inner nodes only
            node_cache.put(node_hash, node)
    return node
