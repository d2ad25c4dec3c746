"""Merkle-Patricia trie roots built in one pass from a complete key set.

A block's transaction, receipt and withdrawal tries are written once and never
updated: their keys are ``rlp(index)`` and all of them are known up front.
py-evm builds them by inserting into a ``HexaryTrie`` one key at a time, which
decodes and re-encodes the nodes on the path of every insert (18% of an ERC-20
block's time). Here the sorted keys are split into branch, extension and leaf
nodes top-down, and each node is encoded and hashed exactly once.

The result is the same root (the Yellow Paper's TRIE function, checked against
``HexaryTrie`` and the official TrieTests) and the nodes a ``HexaryTrie`` needs
to read the trie back: every node whose encoding is 32 bytes or longer, keyed
by its hash, plus the root node. Nodes shorter than 32 bytes are embedded in
their parent, as the Yellow Paper requires.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from trie.utils.nibbles import decode_nibbles, is_nibbles_terminated, remove_nibbles_terminator

from vm.encoding import encode_node, encode_uint
from vm.native import keccak_256

#: Root of the empty trie: ``keccak(rlp(b""))``.
BLANK_ROOT = keccak_256(b"\x80").digest()

_Node = list  # a raw node: 2 items (leaf/extension) or 17 (branch), of bytes or embedded nodes


def ordered_trie_root_and_nodes(items: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root and nodes of the trie mapping ``rlp(i)`` to ``items[i]`` (encoded items)."""
    return trie_root_and_nodes({index_key(index): item for index, item in enumerate(items)})


@functools.lru_cache(maxsize=1 << 16)
def index_key(index: int) -> bytes:
    """``rlp.encode(index)``, the key of item ``index`` in a block's tries.

    Remembered: every block uses the same few.
    """
    return encode_uint(index)


def trie_root_and_nodes(pairs: Mapping[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root and hash-keyed nodes of the trie holding ``pairs``.

    An empty value means "absent", as in the Merkle-Patricia trie itself.
    """
    entries = sorted((key_nibbles(key), value) for key, value in pairs.items() if value)
    if not entries:
        return BLANK_ROOT, {}
    keys = [key for key, _ in entries]
    values = [value for _, value in entries]
    nodes: dict[bytes, bytes] = {}
    encoded_root = encode_node(subtrie(keys, values, 0, len(keys), 0, nodes))
    root = keccak_256(encoded_root).digest()
    nodes[root] = encoded_root
    return root, nodes


#: Hex digit (ASCII) -> its value: ``key.hex()`` then this table gives a key's nibbles in C.
_HEX_DIGIT_VALUES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


def key_nibbles(key: bytes) -> tuple[int, ...]:
    """The key's nibbles, high first."""
    return tuple(key.hex().encode("ascii").translate(_HEX_DIGIT_VALUES))


#: The first hex digits of an HP encoding, by (odd length, leaf): the flag nibble, then a 0 pad for even lengths.
_HP_HEAD = {(False, False): "00", (False, True): "20", (True, False): "1", (True, True): "3"}


def hex_prefix(nibbles: Sequence[int], is_leaf: bool) -> bytes:
    """The Yellow Paper's HP encoding of a key fragment (appendix C).

    Written as hex digits and converted in C: ``bytes(nibbles).hex()`` spells
    each nibble as ``0x``, so its odd characters are the nibbles' own digits.
    """
    return bytes.fromhex(_HP_HEAD[len(nibbles) % 2 == 1, is_leaf] + bytes(nibbles).hex()[1::2])


def split_path(encoded: bytes) -> tuple[tuple[int, ...], bool]:
    """A leaf's or extension's key fragment and whether it is a leaf: :func:`hex_prefix` undone."""
    nibbles = decode_nibbles(encoded)
    if is_nibbles_terminated(nibbles):
        return tuple(remove_nibbles_terminator(nibbles)), True
    return nibbles, False


def subtrie(
    keys: list[tuple[int, ...]], values: list[bytes], low: int, high: int, depth: int, nodes: dict[bytes, bytes]
) -> _Node:
    """The node for ``keys[low:high]`` (sorted, sharing their first ``depth`` nibbles)."""
    first = keys[low]
    if high - low == 1:
        return [hex_prefix(first[depth:], True), values[low]]
    last = keys[high - 1]
    shared = depth
    limit = min(len(first), len(last))
    while shared < limit and first[shared] == last[shared]:
        shared += 1
    if shared > depth:
        child = subtrie(keys, values, low, high, shared, nodes)
        return [hex_prefix(first[depth:shared], False), reference(child, nodes)]
    branch: list = [b""] * 17
    index = low
    if len(first) == depth:  # a key ends here: its value sits in the branch
        branch[16] = values[low]
        index += 1
    while index < high:
        nibble = keys[index][depth]
        end = index + 1
        while end < high and keys[end][depth] == nibble:
            end += 1
        branch[nibble] = reference(subtrie(keys, values, index, end, depth + 1, nodes), nodes)
        index = end
    return branch


def reference(node: _Node, nodes: dict[bytes, bytes]) -> _Node | bytes:
    """How a parent refers to ``node``: embedded when short, else by hash (stored)."""
    encoded = encode_node(node)
    if len(encoded) < 32:
        return node
    node_hash = keccak_256(encoded).digest()
    nodes[node_hash] = encoded
    return node_hash
