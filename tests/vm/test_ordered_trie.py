import rlp
from eth.db.trie import _make_trie_root_and_nodes
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from trie.utils.nibbles import add_nibbles_terminator, encode_nibbles

from vm.ordered_trie import (
    BLANK_ROOT,
    hex_prefix,
    index_key,
    key_nibbles,
    ordered_trie_root_and_nodes,
    split_path,
    trie_root_and_nodes,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=80), max_size=300))
def test_ordered_root_and_nodes_match_py_evm(items):
    root, nodes = ordered_trie_root_and_nodes(items)
    stock_root, stock_nodes = _make_trie_root_and_nodes(tuple(items))
    assert root == stock_root
    assert set(nodes) <= set(stock_nodes)
    readable = HexaryTrie(nodes, root)  # what ChainDB reads transactions and receipts back with
    assert [readable[rlp.encode(i)] for i in range(len(items))] == items


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.binary(max_size=4), st.binary(max_size=40), max_size=40))
def test_arbitrary_keys_match_hexary_trie(pairs):
    """Keys that are prefixes of others, empty keys and empty (absent) values."""
    trie = HexaryTrie({})
    for key, value in pairs.items():
        trie[key] = value
    assert trie_root_and_nodes(pairs)[0] == trie.root_hash


def test_empty_trie():
    assert ordered_trie_root_and_nodes([]) == (BLANK_ROOT, {})
    assert BLANK_ROOT == HexaryTrie({}).root_hash


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_key_nibbles_are_the_high_then_low_halves_of_each_byte(key: bytes) -> None:
    assert key_nibbles(key) == tuple(half for byte in key for half in (byte >> 4, byte & 0x0F))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 15), max_size=65), st.booleans())
def test_hex_prefix_is_py_tries_and_split_path_undoes_it(nibbles: list[int], is_leaf: bool) -> None:
    path = tuple(nibbles)
    expected = encode_nibbles(add_nibbles_terminator(path) if is_leaf else path)
    assert hex_prefix(path, is_leaf) == expected
    assert split_path(expected) == (path, is_leaf)


@given(st.integers(0, 2**20))
def test_index_keys_are_rlp_encoded_indices(index: int) -> None:
    assert index_key(index) == rlp.encode(index)
