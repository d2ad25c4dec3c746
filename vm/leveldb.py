"""LevelDB storage for py-evm, through plyvel.

py-evm removed its LevelDB backend in 2023, so Settle owns this one. Two pieces:

* :class:`LevelDB` is an ``AtomicDatabaseAPI`` on a plyvel database. Its
  ``atomic_batch()`` commits through one plyvel ``WriteBatch`` written with
  ``sync=True``, so a batch is on disk, whole, before the call returns.
* :class:`WriteOverlay` buffers every write made while a block is executed and
  persisted, reading through to the database underneath. The node commits the
  overlay, plus its own indexes, in a single synced batch; a crash therefore
  leaves either the whole block or none of it. An overlay that is dropped (a
  rejected proposal, an ``eth_call``) leaves no trace.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import plyvel
from eth.abc import AtomicWriteBatchAPI, DatabaseAPI
from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB, BaseDB

from vm.leveldb_mmap import disable_table_mmap

_DELETED = object()


class StorageError(Exception):
    """Root of storage errors: the database cannot be opened or written."""


class LevelDB(BaseAtomicDB):
    """A plyvel database speaking py-evm's ``AtomicDatabaseAPI``.

    The instance owns the plyvel handle; :meth:`close` releases the LevelDB lock so
    another process may open the directory.
    """

    def __init__(self, path: Path, *, create_if_missing: bool = True, cache_bytes: int = 8 * 1024 * 1024,
                 write_buffer_bytes: int = 4 * 1024 * 1024) -> None:
        self.path = Path(path)
        disable_table_mmap()  # before LevelDB's environment exists: tables are read, not mapped
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = plyvel.DB(
                str(self.path),
                create_if_missing=create_if_missing,
                # Native memory outside Python's heap; both bound a node's RSS ([storage] config).
                lru_cache_size=cache_bytes,
                write_buffer_size=write_buffer_bytes,
                max_open_files=512,
            )
        except plyvel.IOError as exc:
            raise StorageError(f"cannot open LevelDB at {self.path}: {exc}") from exc
        except plyvel.Error as exc:
            raise StorageError(f"LevelDB at {self.path} is unusable: {exc}") from exc

    def __getitem__(self, key: bytes) -> bytes:
        value = self._db.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value, sync=True)

    def __delitem__(self, key: bytes) -> None:
        if self._db.get(key) is None:
            raise KeyError(key)
        self._db.delete(key, sync=True)

    def _exists(self, key: bytes) -> bool:
        return self._db.get(key) is not None

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]  # dict-like get
        return self._db.get(key, default)

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        """Yield a readable batch; on normal exit, commit it in one synced write."""
        with self._db.write_batch(transaction=True, sync=True) as plyvel_batch:
            target = _BatchTarget(self, plyvel_batch)
            with AtomicDBWriteBatch._commit_unless_raises(target) as readable_batch:
                yield readable_batch

    def write_many(self, items: dict[bytes, bytes | None]) -> None:
        """Write ``items`` (``None`` deletes) atomically and durably."""
        with self._db.write_batch(transaction=True, sync=True) as batch:
            for key, value in items.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)

    def iterate_range(self, start: bytes, stop: bytes) -> Iterator[bytes]:
        """Keys in [start, stop), in order."""
        yield from self._db.iterator(start=start, stop=stop, include_value=False)

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()


class _BatchTarget(BaseDB):
    """Routes an ``AtomicDBWriteBatch`` commit into one plyvel write batch; reads go to the db."""

    def __init__(self, db: LevelDB, batch: plyvel.WriteBatch) -> None:
        self._db = db
        self._batch = batch

    def __getitem__(self, key: bytes) -> bytes:
        return self._db[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._batch.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        self._batch.delete(key)

    def _exists(self, key: bytes) -> bool:
        return self._db.exists(key)


class WriteOverlay(BaseAtomicDB):
    """An in-memory layer of pending writes over another database.

    Reads see the pending writes first. Nothing reaches the database underneath
    until :meth:`pending` is handed to :meth:`LevelDB.write_many`; dropping the
    overlay discards everything.
    """

    def __init__(self, base: DatabaseAPI) -> None:
        self.base = base
        self._pending: dict[bytes, object] = {}

    def __getitem__(self, key: bytes) -> bytes:
        value = self._pending.get(key)
        if value is None:
            return self.base[key]
        if value is _DELETED:
            raise KeyError(key)
        return value  # type: ignore[return-value]  # not _DELETED (refused above)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._pending[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        value = self._pending.get(key)
        if value is None:
            return key in self.base
        return value is not _DELETED

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicWriteBatchAPI]:
        with AtomicDBWriteBatch._commit_unless_raises(self) as readable_batch:
            yield readable_batch

    def pending(self) -> dict[bytes, bytes | None]:
        """The buffered writes, with ``None`` marking deletions."""
        return {
            key: (None if value is _DELETED else value)  # type: ignore[misc]  # a sentinel by identity
            for key, value in self._pending.items()
        }

    def __len__(self) -> int:
        return len(self._pending)
