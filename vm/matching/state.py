"""The matching engine as consensus state: loaded per EVM state, undone with its frames, committed per block.

* **Which engine.** The world state holds the engine's digest (SHA-256 of its
  serialisation) in slot 0 of :data:`MATCHING_ADDRESS`'s account. A state
  (one block's execution, or one ``eth_call``) gets its own engine the first
  time the precompile runs: a copy of the engine with that digest, from a
  small in-process cache or else from the database, where every committed
  serialisation is stored under ``settle:matching:<digest>``. A node restarted
  at its head therefore continues with the head's book, and a node syncing
  from genesis rebuilds each one.
* **Reverts.** ``snapshot`` notes the engine's undo-log position under the
  account checkpoint (nothing while no engine is loaded: the log starts empty
  at the load, so position 0 stands for any earlier snapshot); ``revert``
  rolls the engine back to it, ``commit`` forgets it. So a frame that reverts (or whose ancestor does) leaves nothing
  in the engine, on the fast path and on py-evm's reference path alike, both
  of which take every snapshot through the state.
* **Commitment.** ``persist`` (once per block, before the state root is
  computed) writes the digest into slot 0, gives the account nonce 1 (so that
  EIP-161 never clears it as an empty account) and stores the serialisation,
  in the same database batch as the block. Nothing is written when the
  engine's digest did not change, so a block whose matching was all reverted,
  or an ``eth_call``, leaves no trace.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from vm.matching import NativeEngine
from vm.matching.precompile import MATCHING_ADDRESS

#: Database key prefix of committed engine serialisations (content-addressed by digest).
DB_PREFIX = b"settle:matching:"
_EMPTY = NativeEngine().serialize()
EMPTY_DIGEST = hashlib.sha256(_EMPTY).digest()
#: Engines kept in memory by digest (the heads of recent blocks), so a block need not read its parent's from disk.
CACHE_SIZE = 8
_cache: OrderedDict[bytes, bytes] = OrderedDict()
#: Read-only engines shared by states that only read (``eth_call`` of bestBidAsk, depth, digest).
READERS_SIZE = 2
_readers: OrderedDict[bytes, NativeEngine] = OrderedDict()
#: Reads (eth_call) may run in worker threads beside block execution.
_cache_lock = threading.Lock()


def engine_key(digest: bytes) -> bytes:
    return DB_PREFIX + digest


def _remember(digest: bytes, serialised: bytes) -> None:
    with _cache_lock:
        _cache[digest] = serialised
        _cache.move_to_end(digest)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def _recall(digest: bytes) -> bytes | None:
    with _cache_lock:
        return _cache.get(digest)


class MatchingStateError(Exception):
    """The engine a state root names cannot be found or does not match its digest."""


def committed_digest(state: Any) -> bytes:
    """The engine digest a state commits to (the empty engine's when the slot is unset)."""
    value = state.get_storage(MATCHING_ADDRESS, 0)
    return value.to_bytes(32, "big") if value else EMPTY_DIGEST


def load_engine(db: Any, digest: bytes) -> NativeEngine:
    """A fresh copy of the engine with ``digest``, from the cache or the database."""
    if digest == EMPTY_DIGEST:
        return NativeEngine()
    serialised = _recall(digest)
    if serialised is None:
        try:
            serialised = bytes(db[engine_key(digest)])
        except KeyError:
            raise MatchingStateError(f"no matching-engine state 0x{digest.hex()} in the database") from None
        if hashlib.sha256(serialised).digest() != digest:
            raise MatchingStateError(f"matching-engine state 0x{digest.hex()} does not match its digest")
        _remember(digest, serialised)
    return NativeEngine.from_bytes(serialised)


def shared_engine(db: Any, digest: bytes) -> NativeEngine:
    """A read-only engine with ``digest``, shared between states: callers must never change it."""
    with _cache_lock:
        engine = _readers.get(digest)
    if engine is None:
        engine = load_engine(db, digest)
        with _cache_lock:
            _readers[digest] = engine
            while len(_readers) > READERS_SIZE:
                _readers.popitem(last=False)
    return engine


def clear_caches() -> None:
    """Forget every engine held in memory (what a restarted process starts with)."""
    with _cache_lock:
        _cache.clear()
        _readers.clear()


if TYPE_CHECKING:
    from eth.vm.forks.prague.state import PragueState as _State
else:
    _State = object


class MatchingState(_State):
    """State mixin: the engine of this state, tied to snapshots and committed on persist.

    Place it before any mixin that overrides ``snapshot``/``commit`` (such as
    ``FlatSnapshots``), so that every snapshot goes through it.
    """

    _matching: NativeEngine | None = None
    _matching_digest: bytes = EMPTY_DIGEST
    _matching_marks: dict[Any, int]

    def matching_reader(self) -> NativeEngine:
        """The engine to read from: this state's own once it has one, else the shared committed one.

        Reads need no copy of the engine, so an ``eth_call`` of a query costs no load.
        """
        if self._matching is not None:
            return self._matching
        return shared_engine(self._db, committed_digest(self))

    def matching_engine(self) -> NativeEngine:
        """This state's own engine, to change: a copy of the committed one, made on first use."""
        engine = self._matching
        if engine is None:
            digest = committed_digest(self)
            engine = load_engine(self._db, digest)
            self._matching, self._matching_digest = engine, digest
        return engine

    def _marks(self) -> dict[Any, int]:
        marks = self.__dict__.get("_matching_marks")
        if marks is None:
            marks = self._matching_marks = {}
        return marks

    def snapshot(self) -> Any:
        snapshot = super().snapshot()
        engine = self._matching
        if engine is not None:
            self._marks()[snapshot[1]] = engine.checkpoint()
        return snapshot

    def revert(self, snapshot: Any) -> None:
        """Undo the engine back to the snapshot; one taken before the engine was loaded undoes all since the load."""
        super().revert(snapshot)
        engine = self._matching
        position = self._marks().pop(snapshot[1], 0)
        if engine is not None:
            engine.rollback(position)

    def commit(self, snapshot: Any) -> None:
        super().commit(snapshot)
        marks = self.__dict__.get("_matching_marks")
        if marks:
            marks.pop(snapshot[1], None)

    def lock_changes(self) -> None:
        """Between transactions: no revert reaches back past here, so the undo log can go."""
        super().lock_changes()
        if self._matching is not None:
            self._matching.clear_log()
        self._marks().clear()

    def persist(self) -> Any:
        engine = self._matching
        if engine is not None:
            serialised = engine.serialize()
            digest = hashlib.sha256(serialised).digest()
            if digest != self._matching_digest:
                self.set_storage(MATCHING_ADDRESS, 0, int.from_bytes(digest, "big"))
                if self.get_nonce(MATCHING_ADDRESS) == 0:
                    self.set_nonce(MATCHING_ADDRESS, 1)
                self._db[engine_key(digest)] = serialised
                _remember(digest, serialised)
                self._matching_digest = digest
            engine.clear_log()
            self._marks().clear()
        return super().persist()
