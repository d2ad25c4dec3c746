"""py-evm's ``JournalDB`` with its hot paths written out.

Every account and storage write goes through a ``JournalDB`` and its
``Journal``: ``JournalDB.__setitem__`` calls ``Journal.__setitem__``, which
finds the newest checkpoint's revert set through the ``last_checkpoint``
property, which calls ``toolz.first(reversed(keys))``; four Python calls for
one dict update. Reads go through two frames the same way. For an ERC-20
transfer that was about 4% of building a block.

:class:`SettleJournalDB` does the same steps on the same data structures (the
``Journal`` fields py-evm 0.12.1b1 defines), with the newest revert set taken
by ``next(reversed(values))`` in C. Every other operation (checkpoints,
commits, discards, clears, persisting) is py-evm's own.
``tests/vm/test_journal.py`` runs random operation sequences on both and
compares everything observable after each step.
"""
from __future__ import annotations

from typing import Any

from eth.db.journal import DELETE_WRAPPED, REVERT_TO_WRAPPED, Journal, JournalDB


class SettleJournal(Journal):
    """py-evm's ``Journal``; its checkpoint lookups without ``toolz``."""

    __slots__ = ()

    @property
    def root_checkpoint(self) -> Any:
        return next(iter(self._journal_data))

    @property
    def last_checkpoint(self) -> Any:
        return next(reversed(self._journal_data))


class SettleJournalDB(JournalDB):
    """py-evm's ``JournalDB`` on a :class:`SettleJournal`, with reads and writes in one frame each."""

    __slots__ = ()

    def __init__(self, wrapped_db: Any) -> None:
        super().__init__(wrapped_db)
        self._journal = SettleJournal()
        self.record = self._journal.record_checkpoint
        self.commit = self._journal.commit_checkpoint
        self.reset()

    def __getitem__(self, key: bytes) -> bytes:
        """``JournalDB.__getitem__`` with ``Journal.__getitem__`` inlined."""
        journal = self._journal
        value = journal._current_values.get(key, REVERT_TO_WRAPPED if journal._ignore_wrapped_db else None)
        if value is None:
            return self._wrapped_db[key]
        if value is DELETE_WRAPPED:
            raise KeyError(key, "item is deleted in JournalDB, and will be deleted from the wrapped DB")
        if value is REVERT_TO_WRAPPED:
            raise KeyError(key, "item is deleted in JournalDB, and is presumed gone from the wrapped DB")
        return value  # type: ignore[return-value]  # both DeletedEntry sentinels were refused above

    def __setitem__(self, key: bytes, value: bytes) -> None:
        """``JournalDB.__setitem__`` with ``Journal.__setitem__`` inlined: note the old value once per checkpoint."""
        journal = self._journal
        current = journal._current_values
        revert_changeset = next(reversed(journal._journal_data.values()))
        if key not in revert_changeset:
            revert_changeset[key] = current.get(key, REVERT_TO_WRAPPED)
        current[key] = value
