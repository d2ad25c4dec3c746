"""vm.storage_db against py-evm's ``AccountStorageDB``: same values, roots and stored trie after any changes.

``test_account_db.py`` covers it inside the account database with a few
slots; here one account's storage gets up to 64 slots (tries several levels
deep, with extensions, folds and embedded leaves), wipes, snapshots and
reverts, repeated ``make_storage_root`` calls and persists.
"""
from __future__ import annotations

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.db.storage import AccountStorageDB
from eth.vm.interrupt import MissingStorageTrieNode
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vm.test_account_db import JOURNAL_STEPS
from vm.account_db import SettleAccountDB
from vm.storage_db import SettleAccountStorageDB

ADDRESS = b"\x07" * 20
SLOTS = 64

storage_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, SLOTS - 1), st.one_of(st.just(0), st.integers(1, 2**256 - 1))),
        st.tuples(st.just("set many"), st.lists(st.integers(0, SLOTS - 1), max_size=20), st.integers(0, 3)),
        st.tuples(st.just("wipe")),
        *JOURNAL_STEPS,
    ),
    max_size=40,
)


def _seeded(store_class: type, db: AtomicDB) -> AccountStorageDB:
    store = store_class(db, BLANK_ROOT_HASH, ADDRESS)
    for slot in range(0, SLOTS, 3):
        store.set(slot, slot + 1)
    store.make_storage_root()
    root = store.get_changed_root()
    store.persist(db)
    return store_class(db, root, ADDRESS)


def _apply(store: AccountStorageDB, db: AtomicDB, op: tuple, checkpoint: object = None) -> object:
    kind = op[0]
    if kind == "set":
        store.set(op[1], op[2])
    elif kind == "set many":  # a block's worth of writes to one token: zeros delete
        for slot in op[1]:
            store.set(slot, op[2] * (slot + 1))
    elif kind == "wipe":
        store.delete()
    elif kind == "record":
        store.record(checkpoint)
    elif kind in ("commit", "discard"):
        getattr(store, kind)(checkpoint)
    elif kind == "lock":
        store.lock_changes()
    elif kind == "root":
        store.make_storage_root()
        return store.has_changed_root and store.get_changed_root()
    elif kind == "persist":
        store.make_storage_root()
        root = store.has_changed_root and store.get_changed_root()
        if store.has_changed_root:
            store.persist(db)
        return root
    return None


def _values(store: AccountStorageDB) -> list:
    return [(store.get(slot), store.get(slot, from_journal=False)) for slot in range(SLOTS)]


@settings(max_examples=200, deadline=None)
@given(storage_ops)
def test_storage_db_matches_py_evm(ops: list[tuple]) -> None:
    reference_db, our_db = AtomicDB(), AtomicDB()
    reference, ours = _seeded(AccountStorageDB, reference_db), _seeded(SettleAccountStorageDB, our_db)
    active: list[int] = []
    checkpoints = 0
    for op in ops:
        checkpoint: object = None
        if op[0] == "record":
            checkpoints += 1
            checkpoint = checkpoints
            active.append(checkpoint)
        elif op[0] in ("commit", "discard"):
            if not active:
                continue
            checkpoint = active[op[1] % len(active)]
            del active[active.index(checkpoint):]
        elif op[0] == "wipe" and active:
            continue  # py-evm wipes storage when it finalises a transaction, outside any snapshot
        elif op[0] in ("lock", "root", "persist"):
            active.clear()
        root = _apply(ours, our_db, op, checkpoint)
        assert root == _apply(reference, reference_db, op, checkpoint)
        if op[0] == "persist" and root:  # AccountDB opens new stores after a persist, at the new roots
            reference, ours = (
                AccountStorageDB(reference_db, root, ADDRESS),
                SettleAccountStorageDB(our_db, root, ADDRESS),
            )
        assert _values(ours) == _values(reference)
    _apply(reference, reference_db, ("persist",))
    root = _apply(ours, our_db, ("persist",))
    if root:  # the stored trie reads back the same from a fresh store
        assert _values(AccountStorageDB(our_db, root, ADDRESS)) == _values(
            AccountStorageDB(reference_db, root, ADDRESS)
        )


def _slot_with_first_nibble(nibble: int) -> int:
    return next(slot for slot in range(1000) if keccak(slot.to_bytes(32, "big"))[0] >> 4 == nibble)


def test_a_delete_and_an_insert_in_one_batch_read_fewer_trie_nodes() -> None:
    """Two slots under the root branch; one deleted, another added: py-evm folds the branch, then splits it.

    Key by key, the deletion leaves the branch one child, which py-evm reads to
    fold it into the root; the insertion then splits it again. The one walk
    keeps the branch and never reads that child. Same root; py-evm's witness
    lists one more trie node.
    """
    first, second, third = (_slot_with_first_nibble(nibble) for nibble in (0, 1, 2))

    def run(db_class: type[AccountDB]) -> tuple:
        db = db_class(AtomicDB(), BLANK_ROOT_HASH)
        db.set_storage(ADDRESS, first, 5)
        db.set_storage(ADDRESS, second, 6)
        db.persist()
        db.set_storage(ADDRESS, first, 0)
        db.set_storage(ADDRESS, third, 7)
        db.lock_changes()
        witness = db.persist()
        return db.state_root, set(witness.hashes), [db.get_storage(ADDRESS, slot) for slot in (first, second, third)]

    (root, read, values), (our_root, our_read, our_values) = run(AccountDB), run(SettleAccountDB)
    assert our_root == root and our_values == values == [0, 6, 7]
    assert our_read < read and len(read - our_read) == 1


def test_a_slot_created_and_cleared_in_one_block_leaves_no_trace() -> None:
    """Set by one transaction, cleared by a later one: the batch deletes a key the trie never had."""
    results = []
    for store_class in (AccountStorageDB, SettleAccountStorageDB):
        db = AtomicDB()
        store = _seeded(store_class, db)
        store.set(1, 5)  # slot 1 is not in the seeded trie
        store.set(4, 9)
        store.lock_changes()  # end of the first transaction
        store.set(1, 0)
        store.make_storage_root()
        results.append((store.get_changed_root(), _values(store)))
    assert results[0] == results[1]
    assert results[0][1][1] == (0, 0) and results[0][1][4] == (9, 9)


def test_a_missing_trie_node_raises_py_evms_error() -> None:
    """A read that reaches a node the database lacks raises MissingStorageTrieNode, as py-evm's read does."""
    nodes: dict = {}
    db = AtomicDB(MemoryDB(nodes))
    seeded = _seeded(SettleAccountStorageDB, db)
    root = seeded._storage_lookup._starting_root_hash
    for node_hash in [key for key in nodes if key != root]:  # keep only the root node
        del nodes[node_hash]
    errors = []
    for store_class in (AccountStorageDB, SettleAccountStorageDB):
        with pytest.raises(MissingStorageTrieNode) as raised:
            store_class(db, root, ADDRESS).get(3)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]


def test_the_storage_pipes_are_py_evms() -> None:
    """SettleAccountStorageDB rebuilds py-evm's chain of stores on its lookup.

    A py-evm upgrade that changes that chain fails here.
    """
    ours, theirs = (
        SettleAccountStorageDB(AtomicDB(), BLANK_ROOT_HASH, ADDRESS),
        AccountStorageDB(AtomicDB(), BLANK_ROOT_HASH, ADDRESS),
    )
    assert sorted(vars(ours)) == sorted(vars(theirs))
    for name, value in vars(theirs).items():
        assert isinstance(vars(ours)[name], type(value)), name
    assert ours._journal_storage._wrapped_db is ours._locked_changes
    assert ours._locked_changes._wrapped_db is ours._storage_cache
    assert ours._storage_cache._db is ours._storage_lookup
