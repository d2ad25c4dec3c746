"""py-evm's ``AccountStorageDB`` with the block's writes applied to the storage trie in one walk.

(Reads go through :func:`vm.trie_read.trie_get`, which decodes each inner node once.)

When the state root is made, py-evm moves an account's locked storage
changes, one key at a time, through a cache into ``StorageLookup``, whose
``HexaryTrie`` rebuilds the path to the root for each key. Here the same
changes go through the same cache in the same order, and then into the
same write trie as one batch (:func:`vm.trie_update.update_trie`): same root,
same trie nodes written to the same pending batch, so ``persist``, a storage
wipe's ``new_trie``/``rollback_trie`` and every later read behave as before.
Written against py-evm 0.12.1b1; ``tests/vm/test_storage_db.py`` compares it
with py-evm's own after every kind of change.
"""
from __future__ import annotations

from eth._utils.padding import pad32
from eth.abc import AtomicDatabaseAPI
from eth.db.cache import CacheDB
from eth.db.journal import DELETE_WRAPPED, REVERT_TO_WRAPPED
from eth.db.storage import AccountStorageDB, StorageLookup
from eth_typing import Address, Hash32
from eth_utils import int_to_big_endian

from vm.encoding import encode_uint
from vm.journal import SettleJournalDB
from vm.native import keccak_256
from vm.trie_read import trie_get
from vm.trie_update import update_trie


def _trie_key(key: bytes) -> bytes:
    """Where a slot (its big-endian bytes) sits in the storage trie, as ``StorageLookup._decode_key`` has it."""
    return keccak_256(pad32(key)).digest()


class SettleStorageLookup(StorageLookup):
    """py-evm's ``StorageLookup``, reading slots through :func:`vm.trie_read.trie_get` (inner nodes decoded once)."""

    def __getitem__(self, key: bytes) -> bytes:
        write_trie = self._write_trie
        if write_trie is None:  # py-evm's _get_read_trie: the write trie once there is one
            root, read_node = self._starting_root_hash, self._db.__getitem__
        else:
            root, read_node = write_trie.root_hash, write_trie.db.__getitem__
        try:
            return trie_get(read_node, root, _trie_key(key))
        except KeyError:  # a missing node: py-evm's own read raises its MissingStorageTrieNode
            return super().__getitem__(key)


class SettleAccountStorageDB(AccountStorageDB):
    """``AccountStorageDB`` whose ``make_storage_root`` writes the trie in one batch, and whose reads decode less."""

    def __init__(self, db: AtomicDatabaseAPI, storage_root: Hash32, address: Address) -> None:
        super().__init__(db, storage_root, address)
        # py-evm's pipes (db -> lookup -> cache -> locked changes -> journal), on SettleStorageLookup
        # and vm.journal's JournalDB.
        self._storage_lookup = SettleStorageLookup(db, storage_root, address)
        self._storage_cache = CacheDB(self._storage_lookup)
        self._locked_changes = SettleJournalDB(self._storage_cache)
        self._journal_storage = SettleJournalDB(self._locked_changes)

    def set(self, slot: int, value: int) -> None:
        """py-evm's, with the value encoded by :func:`vm.encoding.encode_uint` (``rlp.encode``'s bytes, cheaper)."""
        key = int_to_big_endian(slot)
        if value:
            self._journal_storage[key] = encode_uint(value)
            return
        try:
            current = self._journal_storage[key]
        except KeyError:
            return  # deleting an empty key has no effect
        if current != b"":
            del self._journal_storage[key]

    def make_storage_root(self) -> None:
        """``lock_changes`` then ``_locked_changes.persist()``, with the trie writes batched.

        ``JournalDB.persist`` hands each change to ``CacheDB``, which updates
        its cache and then writes or deletes the key in ``StorageLookup``
        (key ``keccak(pad32(slot))``). The cache steps are kept as they are;
        the trie steps are collected and applied together.
        """
        self.lock_changes()
        changes = self._locked_changes._journal.pop_all()
        if not changes:
            return
        cache = self._storage_cache._cached_values
        trie_changes: dict[bytes, bytes] = {}
        for key, value in changes.items():
            # JournalDB.persist skips REVERT_TO_WRAPPED; storage journals never make it (a trie read
            # never raises KeyError), but the same steps are kept.
            if value is REVERT_TO_WRAPPED:
                continue
            if value is DELETE_WRAPPED:
                if key in cache:
                    del cache[key]
                trie_changes[_trie_key(key)] = b""
            else:
                # Not DELETE_WRAPPED (handled above), so bytes: mypy cannot narrow a sentinel by identity.
                cache[key] = value  # type: ignore[assignment]
                trie_changes[_trie_key(key)] = value  # type: ignore[assignment]
        if not trie_changes:
            return
        lookup = self._storage_lookup
        trie = lookup._get_write_trie()
        pending = lookup._trie_nodes_batch
        root, nodes = update_trie(pending.__getitem__, trie.root_hash, trie_changes)
        for node_hash, encoded in nodes.items():
            pending[node_hash] = encoded
        trie.root_hash = root
