"""A key read from a Merkle-Patricia trie, with its inner nodes decoded once.

py-evm reads each storage slot the first time a block touches it through a
new ``trie.HexaryTrie``: every read fetches and RLP-decodes every node from the
root down. A token's 2,000 slot reads per block decode the same few hundred
inner nodes thousands of times. :func:`trie_get` walks the same path by the
same rules, and keeps inner (branch and extension) nodes decoded in a
bounded cache keyed by their hash. A node's hash fixes its content, so a
cached node is the node the database holds under that hash.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import rlp

from vm.ordered_trie import BLANK_ROOT, key_nibbles, split_path

#: Inner nodes kept decoded, by hash; emptied when it reaches this size.
DECODED_LIMIT = 50_000
_decoded: dict[bytes, Any] = {}


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
    node = _decoded.get(node_hash)
    if node is None:
        node = rlp.decode(read_node(node_hash))
        if len(node) == 17 or not split_path(node[0])[1]:  # inner nodes only
            if len(_decoded) >= DECODED_LIMIT:
                _decoded.clear()
            _decoded[node_hash] = node
    return node
