"""``vm.journal.SettleJournalDB`` against py-evm's ``JournalDB``, operation by operation."""
from __future__ import annotations

from eth.db.backends.memory import MemoryDB
from eth.db.journal import JournalDB
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.vm.checkpoints import PairedCheckpoints
from vm.journal import SettleJournalDB

KEYS = [b"a", b"b", b"c", b"d"]
SEED = {b"a": b"1", b"b": b"2"}

_key = st.sampled_from(KEYS)
journal_ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), _key, st.sampled_from([b"", b"x", b"y", b"z"])),
        st.tuples(st.just("delete"), _key),
        st.tuples(st.just("record")),
        st.tuples(st.sampled_from(["commit", "discard"]), st.integers(0, 5)),
        st.tuples(st.sampled_from(["clear", "persist", "flatten", "reset"])),
    ),
    max_size=50,
)


def _outcome(call, *args):
    try:
        return ("ok", call(*args))
    except KeyError:
        return ("KeyError", None)


def _observe(db: JournalDB) -> tuple:
    return (
        [_outcome(db.__getitem__, key) for key in KEYS],
        [key in db for key in KEYS],
        db.has_clear(),
        sorted(db.diff().pending_items()),
        sorted(db._wrapped_db.kv_store.items()),
        len(db._journal._checkpoint_stack),
    )


def _apply(db: JournalDB, op: tuple, checkpoint: object = None):
    kind = op[0]
    if kind == "set":
        db[op[1]] = op[2]
    elif kind == "delete":
        return _outcome(db.__delitem__, op[1])
    elif kind == "record":
        return db.record()
    elif kind == "commit":
        db.commit(checkpoint)
    elif kind == "discard":
        db.discard(checkpoint)
    else:
        getattr(db, kind)()
    return None


@settings(max_examples=400, deadline=None)
@given(journal_ops)
def test_journal_db_matches_py_evm(ops: list[tuple]) -> None:
    reference, ours = JournalDB(MemoryDB(dict(SEED))), SettleJournalDB(MemoryDB(dict(SEED)))
    checkpoints = PairedCheckpoints()
    for op in ops:
        if op[0] in ("commit", "discard"):
            checkpoints.commit_or_discard(op, _apply, reference, ours)
        else:
            if op[0] in ("persist", "flatten", "reset"):
                checkpoints.clear()
            got_reference, got_ours = _apply(reference, op), _apply(ours, op)
            if op[0] == "record":
                checkpoints.record(got_reference, got_ours)
            else:
                assert got_ours == got_reference
        assert _observe(ours) == _observe(reference)
