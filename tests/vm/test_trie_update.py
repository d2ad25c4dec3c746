"""vm.trie_update and vm.trie_read against py-trie's HexaryTrie, written key by key as py-evm writes it."""
import pytest
import rlp
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from trie.utils.nibbles import bytes_to_nibbles
from trie.utils.nodes import compute_leaf_key

from vm.ordered_trie import BLANK_ROOT
from vm.trie_read import trie_get
from vm.trie_update import update_trie

_BYTE = st.sampled_from([0x00, 0x01, 0x10, 0x11, 0xFF])
#: 32-byte keys: random ones, and ones sharing long stretches (extensions, and short leaves embedded in their parent).
KEYS = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.tuples(_BYTE, _BYTE, _BYTE).map(lambda t: bytes([t[0], t[1]]) + b"\x00" * 29 + bytes([t[2]])),
    st.tuples(_BYTE, _BYTE).map(lambda t: b"\x11" * 30 + bytes(t)),
    st.integers(0, 40).map(lambda n: keccak(n.to_bytes(32, "big"))),
)
VALUES = st.one_of(st.binary(min_size=1, max_size=3), st.binary(min_size=1, max_size=40))


def _key_by_key(db: dict, root: bytes, changes: dict) -> bytes:
    trie = HexaryTrie(db, root_hash=root)  # pruning changes which nodes stay, never the root
    for key, value in changes.items():
        if value:
            trie[key] = value
        else:
            del trie[key]
    return trie.root_hash


@settings(max_examples=400, deadline=None)
@given(
    start=st.dictionaries(KEYS, VALUES, max_size=30),
    writes=st.dictionaries(KEYS, st.one_of(VALUES, st.just(b""), st.none()), max_size=30),
    deletions=st.integers(0, 30),
)
def test_same_root_and_readable_nodes_as_key_by_key(start: dict, writes: dict, deletions: int) -> None:
    changes = dict(writes)
    changes.update((key, b"") for key in list(start)[:deletions])  # delete some existing keys too
    db: dict = {}
    trie = HexaryTrie(db)
    for key, value in start.items():
        trie[key] = value
    start_root = trie.root_hash
    expected = _key_by_key(dict(db), start_root, changes)

    root, nodes = update_trie(db.__getitem__, start_root, changes)

    assert root == expected
    final = {**start, **changes}
    after = HexaryTrie({**db, **nodes}, root_hash=root)  # every node of the new trie is in the db or the batch
    for key, value in final.items():
        assert after.get(key) == (value or b"")
    if not any(final.values()):
        assert root == BLANK_ROOT


def test_no_changes_leave_the_root() -> None:
    assert update_trie({}.__getitem__, BLANK_ROOT, {}) == (BLANK_ROOT, {})


def test_emptying_a_trie_gives_the_blank_root() -> None:
    db: dict = {}
    trie = HexaryTrie(db)
    keys = [keccak(bytes([n])) for n in range(20)]
    for key in keys:
        trie[key] = b"\x01"
    assert update_trie(db.__getitem__, trie.root_hash, {key: b"" for key in keys}) == (BLANK_ROOT, {})


def test_keys_of_different_lengths_are_refused() -> None:
    try:
        update_trie({}.__getitem__, BLANK_ROOT, {b"\x01" * 32: b"\x01", b"\x02": b"\x01"})
    except ValueError as error:
        assert "same length" in str(error)
    else:
        raise AssertionError("mixed key lengths were accepted")


@settings(max_examples=300, deadline=None)
@given(contents=st.dictionaries(KEYS, VALUES, max_size=40), probes=st.lists(KEYS, max_size=20))
def test_reads_give_what_hexary_trie_gives(contents: dict, probes: list) -> None:
    db: dict = {}
    trie = HexaryTrie(db)
    for key, value in contents.items():
        trie[key] = value
    for key in list(contents) + probes:
        assert trie_get(db.__getitem__, trie.root_hash, key) == trie.get(key)


def test_a_missing_node_is_a_key_error_even_with_inner_nodes_cached() -> None:
    db: dict = {}
    trie = HexaryTrie(db)
    keys = [keccak(bytes([n])) for n in range(40)]
    for key in keys:
        trie[key] = b"\x01" * 40  # leaves too long to embed: each is a node of its own
    assert trie_get(db.__getitem__, trie.root_hash, keys[0]) == b"\x01" * 40
    leaf = keccak(rlp.encode([compute_leaf_key(bytes_to_nibbles(keys[0])[2:]), b"\x01" * 40]))
    partial = {node_hash: node for node_hash, node in db.items() if node_hash != leaf}
    assert len(partial) == len(db) - 1  # that leaf sits two levels down (both levels are full branches)
    with pytest.raises(KeyError):
        trie_get(partial.__getitem__, trie.root_hash, keys[0])
