"""``vm.account_db`` against py-evm's ``AccountDB`` and ``JournalDB``, operation by operation.

The warm set must answer membership exactly as py-evm's ``JournalDB`` does
through any sequence of marks, checkpoints, commits and discards. The
account database as a whole must leave the same state root, the same
accounts and the same storage as py-evm's after random sequences of balance,
nonce, code and storage changes, deletions (of accounts with and without
storage, existing or not, made outside snapshots as py-evm makes them),
snapshots and reverts, across several
``make_state_root`` and ``persist`` calls.
"""
from __future__ import annotations

import pytest
from eth.constants import BLANK_ROOT_HASH
from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.db.journal import JournalDB
from eth_utils import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vm.checkpoints import PairedCheckpoints
from vm.account_db import AccessedState, SettleAccountDB

KEYS = [bytes([i]) * 20 for i in range(1, 6)]


# -- the warm set -------------------------------------------------------------------

warm_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(KEYS)),
        st.tuples(st.just("record")),
        st.tuples(st.just("commit"), st.integers(0, 5)),
        st.tuples(st.just("discard"), st.integers(0, 5)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(warm_ops)
def test_warm_set_answers_like_py_evms_journal(ops: list[tuple]) -> None:
    reference = JournalDB(MemoryDB())
    ours = AccessedState()
    active: list[int] = []  # checkpoints on the active stack, as the caller (AccountDB) sees them
    for op in ops:
        if op[0] == "add":
            if op[1] not in reference:
                reference[op[1]] = b""
            ours.add(op[1])
        elif op[0] == "record":
            checkpoint = reference.record()
            ours.record(checkpoint)
            active.append(checkpoint)
        elif active:
            checkpoint = active[op[1] % len(active)]
            del active[active.index(checkpoint):]
            getattr(reference, op[0])(checkpoint)
            getattr(ours, op[0])(checkpoint)
        assert [key in ours for key in KEYS] == [key in reference for key in KEYS]


def test_warm_set_refuses_unknown_and_spent_checkpoints() -> None:
    ours = AccessedState()
    ours.record(7)
    with pytest.raises(ValidationError):
        ours.record(7)
    ours.commit(7)
    with pytest.raises(ValidationError, match="No checkpoint 7"):
        ours.discard(7)
    with pytest.raises(ValidationError, match="No checkpoint 9"):
        ours.commit(9)


def test_discard_reaches_under_committed_checkpoints() -> None:
    ours = AccessedState()
    ours.record(1)
    ours.add(b"a")
    ours.record(2)
    ours.add(b"b")
    ours.commit(2)
    ours.add(b"c")
    ours.discard(1)
    assert not any(key in ours for key in (b"a", b"b", b"c"))


# -- the account database ----------------------------------------------------------

ADDRESSES = KEYS
#: Snapshot, lock and flush steps (shared with test_storage_db.py); commit and discard pick an open snapshot.
JOURNAL_STEPS = [
    st.tuples(st.just("record")),
    st.tuples(st.just("commit"), st.integers(0, 5)),
    st.tuples(st.just("discard"), st.integers(0, 5)),
    st.tuples(st.just("lock")),
    st.tuples(st.just("root")),
    st.tuples(st.just("persist")),
]
account_ops = st.lists(
    st.one_of(
        st.tuples(st.just("balance"), st.sampled_from(ADDRESSES), st.integers(0, 2**256 - 1)),
        st.tuples(st.just("nonce"), st.sampled_from(ADDRESSES),
                  st.one_of(st.integers(0, 2**64 - 1), st.just(2**64 - 2), st.just(2**64 - 1))),
        st.tuples(st.just("increment nonce"), st.sampled_from(ADDRESSES)),
        st.tuples(st.just("touch"), st.sampled_from(ADDRESSES)),
        st.tuples(st.just("same balance"), st.sampled_from(ADDRESSES)),
        st.tuples(st.just("code"), st.sampled_from(ADDRESSES), st.binary(max_size=40)),
        st.tuples(st.just("storage"), st.sampled_from(ADDRESSES), st.integers(0, 3), st.integers(0, 2**256 - 1)),
        st.tuples(st.just("delete"), st.sampled_from(ADDRESSES)),
        st.tuples(st.just("warm"), st.sampled_from(ADDRESSES), st.integers(0, 3)),
        *JOURNAL_STEPS,
    ),
    max_size=50,
)


def _apply(db: AccountDB, op: tuple, checkpoint: int | None = None) -> object:
    kind = op[0]
    if kind == "balance":
        db.set_balance(op[1], op[2])
    elif kind == "nonce":
        db.set_nonce(op[1], op[2])
    elif kind == "increment nonce":  # refused past 2**64 - 1, with py-evm's error
        try:
            db.increment_nonce(op[1])
        except ValidationError as exc:
            return str(exc)
    elif kind == "touch":
        db.touch_account(op[1])
    elif kind == "same balance":  # a zero-price gas charge or refund; creates a missing account
        db.set_balance(op[1], db.get_balance(op[1]))
    elif kind == "code":
        db.set_code(op[1], op[2])
    elif kind == "storage":
        db.set_storage(op[1], op[2], op[3])
    elif kind == "delete":
        db.delete_account(op[1])
    elif kind == "warm":
        db.mark_address_warm(op[1])
        db.mark_storage_warm(op[1], op[2])
    elif kind == "record":
        return db.record()
    elif kind in ("commit", "discard"):
        getattr(db, kind)(checkpoint)
    elif kind == "lock":
        db.lock_changes()
    elif kind == "root":
        return db.make_state_root()
    elif kind == "persist":
        witness = db.persist()
        return db.state_root, _witness(witness)
    return None


def _witness(witness: object) -> tuple:
    """What py-evm's ``persist`` reports as read: accounts, bytecodes and slots per account, and trie nodes."""
    return (witness.accounts_queried, witness.account_bytecodes_queried,  # type: ignore[attr-defined]
            [witness.get_slots_queried(address) for address in ADDRESSES],  # type: ignore[attr-defined]
            frozenset(witness.hashes))  # type: ignore[attr-defined]


def _same_witness(ours: tuple, reference: tuple) -> bool:
    """The same reads, except that the storage trie's one-walk update may read fewer trie nodes.

    py-evm writes a block's storage changes key by key: deleting a key can fold a
    branch (reading its other child), and a later key in the same batch can split
    it again. The one walk (vm.trie_update) never makes that detour. Nothing in
    Settle reads the witness; the state it describes is the same.
    """
    return ours[:3] == reference[:3] and ours[3] <= reference[3]


def _observe(db: AccountDB) -> list:
    seen = []
    for address in ADDRESSES:
        seen.append((
            db.account_exists(address), db.account_is_empty(address), db.get_balance(address), db.get_nonce(address),
            db.get_code(address), [db.get_storage(address, slot) for slot in range(4)],
            [db.get_storage(address, slot, from_journal=False) for slot in range(4)],
            db.is_address_warm(address), [db.is_storage_warm(address, slot) for slot in range(4)],
        ))
    return seen


def _seeded(db_class: type[AccountDB]) -> AccountDB:
    """Two accounts with storage and one empty account already in the state."""
    db = db_class(AtomicDB(), BLANK_ROOT_HASH)
    db.set_balance(ADDRESSES[0], 10)
    db.set_storage(ADDRESSES[0], 1, 99)
    db.set_storage(ADDRESSES[1], 2, 7)
    db.touch_account(ADDRESSES[2])
    db.persist()
    return db


@settings(max_examples=150, deadline=None)
@given(account_ops)
def test_account_db_matches_py_evm(ops: list[tuple]) -> None:
    reference, ours = _seeded(AccountDB), _seeded(SettleAccountDB)
    assert ours.state_root == reference.state_root
    checkpoints = PairedCheckpoints()
    for op in ops:
        if op[0] in ("commit", "discard"):
            checkpoints.commit_or_discard(op, _apply, reference, ours)
        elif op[0] == "delete" and checkpoints.active:
            # py-evm deletes accounts when it finalises a transaction, outside any
            # snapshot; it refuses to revert across two deletions of one account.
            continue
        else:
            if op[0] in ("lock", "root", "persist"):
                checkpoints.clear()  # py-evm's callers take no snapshot across these
            got_reference, got_ours = _apply(reference, op), _apply(ours, op)
            if op[0] == "record":
                checkpoints.record(got_reference, got_ours)
            elif op[0] == "persist":
                assert got_ours[0] == got_reference[0] and _same_witness(got_ours[1], got_reference[1])
            else:
                assert got_ours == got_reference
        assert _observe(ours) == _observe(reference)
    assert ours.make_state_root() == reference.make_state_root()
    assert _same_witness(_witness(ours.persist()), _witness(reference.persist()))
    assert ours.state_root == reference.state_root


def test_deleting_the_empty_coinbase_opens_no_storage_trie() -> None:
    """The EIP-161 case the shortcut is for: touched with a zero fee, then deleted."""
    ours = _seeded(SettleAccountDB)
    coinbase = b"\xcb" * 20
    ours.set_balance(coinbase, 0)
    ours.delete_account(coinbase)
    assert coinbase not in ours._account_stores
    assert not ours.account_exists(coinbase)
    # An account that has storage is still wiped the py-evm way.
    ours.delete_account(ADDRESSES[0])
    assert ADDRESSES[0] in ours._account_stores
    assert ours.get_storage(ADDRESSES[0], 1) == 0


def test_storage_reads_follow_a_revert() -> None:
    """A remembered read, current or original, must not outlive the write a discard takes back."""
    reference, ours = _seeded(AccountDB), _seeded(SettleAccountDB)
    address = ADDRESSES[0]
    for db in (reference, ours):
        checkpoint = db.record()
        assert db.get_storage(address, 1) == 99
        db.set_storage(address, 1, 5)
        assert db.get_storage(address, 1) == 5
        db.discard(checkpoint)
    assert ours.get_storage(address, 1) == reference.get_storage(address, 1) == 99
    for db in (reference, ours):
        db.lock_changes()
        checkpoint = db.record()
        db.set_storage(address, 1, 6)
        assert db.get_storage(address, 1) == 6
        assert db.get_storage(address, 1, from_journal=False) == 99
        db.discard(checkpoint)
    assert _observe(ours) == _observe(reference)


storage_ops = st.lists(
    st.one_of(
        st.tuples(st.just("storage"), st.sampled_from(ADDRESSES[:2]), st.integers(0, 2), st.integers(0, 3)),
        st.tuples(st.just("read"), st.sampled_from(ADDRESSES[:2]), st.integers(0, 2), st.booleans()),
        st.tuples(st.just("delete"), st.sampled_from(ADDRESSES[:2])),
        st.tuples(st.just("record")),
        st.tuples(st.just("commit"), st.integers(0, 5)),
        st.tuples(st.just("discard"), st.integers(0, 5)),
        st.tuples(st.just("lock")),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(storage_ops)
def test_storage_reads_in_any_order_match_py_evm(ops: list[tuple]) -> None:
    """Single reads, current or original, at any point: an original first asked after a write or wipe too."""
    reference, ours = _seeded(AccountDB), _seeded(SettleAccountDB)
    checkpoints = PairedCheckpoints()
    for op in ops:
        if op[0] == "read":
            _, address, slot, from_journal = op
            assert (ours.get_storage(address, slot, from_journal=from_journal)
                    == reference.get_storage(address, slot, from_journal=from_journal)), op
        elif op[0] in ("commit", "discard"):
            checkpoints.commit_or_discard(op, _apply, reference, ours)
        elif op[0] == "delete" and checkpoints.active:
            continue  # as above: py-evm deletes accounts outside any snapshot
        else:
            if op[0] == "lock":
                checkpoints.clear()
            got_reference, got_ours = _apply(reference, op), _apply(ours, op)
            if op[0] == "record":
                checkpoints.record(got_reference, got_ours)
    assert _observe(ours) == _observe(reference)
    assert ours.make_state_root() == reference.make_state_root()


def test_an_original_first_asked_after_a_write_or_a_wipe_is_py_evms() -> None:
    """The current value is remembered, then changed; the original is asked only afterwards."""
    address = ADDRESSES[0]
    for change in ("write", "wipe", "write then revert"):
        answers = []
        for db in (_seeded(AccountDB), _seeded(SettleAccountDB)):
            db.lock_changes()
            assert db.get_storage(address, 1) == 99
            checkpoint = db.record()
            if change == "wipe":
                db.delete_account(address)  # py-evm opens a blank store: the original reads 0 too
            else:
                db.set_storage(address, 1, 5)
            if change == "write then revert":
                db.discard(checkpoint)
                db.set_storage(address, 2, 1)
            answers.append((db.get_storage(address, 1, from_journal=False), db.get_storage(address, 1)))
        assert answers[1] == answers[0], change
    assert answers[0] == (99, 99)
