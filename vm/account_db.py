"""py-evm's ``AccountDB`` with its per-transaction bookkeeping made cheap.

Every transaction reads and writes a few storage slots, changes a few
balances and nonces, reads the called contract's code, marks a handful of
addresses and slots warm (EIP-2929), and, on a chain whose fees are 0,
touches and then deletes the empty coinbase account (EIP-161). py-evm does
each of these through general machinery: journal walks for every storage
read, a deep ``Account.copy``, a copy of every key read so far for each code
read, a ``JournalDB`` write per warm mark, and a fresh storage trie per
deletion.
:class:`SettleAccountDB` keeps py-evm's state layout, journals and roots, and
does only these steps more directly, and encodes accounts with
:func:`vm.encoding.encode_account`. The results are the same by
construction. ``tests/vm/test_account_db.py`` compares them with py-evm's,
step by step; the official state tests and the equivalence tests check them
in use.
**Re-check every override here when py-evm is upgraded** (written against
0.12.1b1).
"""
from __future__ import annotations

from collections.abc import Hashable

from eth.abc import AtomicDatabaseAPI, MetaWitnessAPI
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.rlp.accounts import Account
from eth.typing import JournalDBCheckpoint
from eth.validation import validate_canonical_address, validate_uint64, validate_uint256
from eth.vm.interrupt import MissingBytecode
from eth_typing import Address, Hash32
from eth_utils import ValidationError

from vm.encoding import account_fields, encode_account, new_account
from vm.journal import SettleJournalDB
from vm.storage_db import SettleAccountStorageDB


class AccessedState:
    """The warm set of one transaction, with ``JournalDB``'s checkpoint rules.

    py-evm keeps the set in a ``JournalDB`` over a ``MemoryDB``, so every
    membership test walks three layers of Python. Here it is a set plus an
    append-only log of the keys added; a checkpoint is a position in the log.

    * ``discard(cp)`` forgets every key added since ``cp`` was recorded, even
      under checkpoints committed since (as the journal's kept changesets do);
    * ``commit(cp)`` only drops ``cp`` and the later checkpoints from the
      active stack, so an older checkpoint can still discard their keys;
    * a checkpoint not on the active stack is a ``ValidationError``, as in
      ``Journal``.
    """

    __slots__ = ("_present", "_added", "_stack", "_positions")

    def __init__(self) -> None:
        self._present: set[Hashable] = set()
        self._added: list[Hashable] = []
        self._stack: list[JournalDBCheckpoint] = []
        self._positions: dict[JournalDBCheckpoint, int] = {}

    def __contains__(self, key: Hashable) -> bool:
        return key in self._present

    def add(self, key: Hashable) -> None:
        if key not in self._present:
            self._present.add(key)
            self._added.append(key)

    def record(self, checkpoint: JournalDBCheckpoint) -> None:
        if checkpoint in self._positions:
            raise ValidationError(f"Tried to record with an existing checkpoint: {checkpoint!r}")
        self._positions[checkpoint] = len(self._added)
        self._stack.append(checkpoint)

    def discard(self, checkpoint: JournalDBCheckpoint) -> None:
        del self._stack[self._stack_index(checkpoint):]
        start = self._positions[checkpoint]
        # Checkpoints recorded after this one, committed or not, go with it, as
        # ``Journal.discard`` pops their changesets.
        recorded = list(self._positions)
        for later in recorded[recorded.index(checkpoint):]:
            del self._positions[later]
        for key in self._added[start:]:
            self._present.discard(key)
        del self._added[start:]

    def commit(self, checkpoint: JournalDBCheckpoint) -> None:
        del self._stack[self._stack_index(checkpoint):]

    def _stack_index(self, checkpoint: JournalDBCheckpoint) -> int:
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index] == checkpoint:
                return index
        raise ValidationError(f"No checkpoint {checkpoint} was found")


def _exists(account: Account) -> bool:
    """Whether a cached account must be in the trie: py-evm caches a missing one as the blank ``Account()``."""
    return bool(
        account.nonce or account.balance or account.code_hash != EMPTY_SHA3 or account.storage_root != BLANK_ROOT_HASH
    )


class SettleAccountDB(AccountDB):
    """py-evm 0.12.1b1's ``AccountDB`` with cheaper storage reads and balance, nonce, warm-set
    and empty-account updates.

    **Storage reads are memoised.** A token transfer reads each of its slots
    three times (SLOAD, then SSTORE's current and original values), and each
    read walks the account store's two journals, a cache and an RLP decode.
    ``_current`` and ``_original`` remember what ``get_storage`` returned,
    keyed by (address, slot), for ``from_journal`` true and false. They are
    filled only by reads (so py-evm's per-store record of accessed slots sees
    every slot it would see), kept up to date by ``set_storage``, and
    dropped whenever py-evm could change an answer another way:
    ``_original`` when changes are locked (the transaction's writes become
    the originals); both on a discard (a revert can even restore a wiped
    trie), a storage wipe, a new state root, ``make_state_root`` and
    ``persist`` (which also replaces the account stores).

    **An original read is answered from the current one when they must be
    equal.** A slot's current value differs from its original (its value when
    changes were last locked) only through a write to it or a storage wipe
    since then: those are the only changes a store's journal takes. So until
    the next ``lock_changes``, ``_written`` collects every slot written and
    ``_wiped`` whether any storage was wiped; they are not reset by a discard,
    because a revert may keep writes made before its checkpoint. A slot in
    neither, whose current value is remembered, has that value as its
    original. That saves SSTORE's second trie read of a slot SLOAD just read.
    """

    def __init__(self, db: AtomicDatabaseAPI, state_root: Hash32 = BLANK_ROOT_HASH) -> None:
        self._current: dict[tuple[Address, int], int] = {}
        self._original: dict[tuple[Address, int], int] = {}
        self._written: set[tuple[Address, int]] = set()
        self._wiped = False
        self._code_by_hash: dict[Hash32, bytes] = {}
        super().__init__(db, state_root)
        # py-evm's two journals, on vm.journal's JournalDB (nothing holds the ones just made).
        self._journaldb = SettleJournalDB(self._batchdb)
        self._journaltrie = SettleJournalDB(self._trie_cache)

    def _get_address_store(self, address: Address) -> SettleAccountStorageDB:
        """py-evm's, opening :class:`SettleAccountStorageDB` (one-walk storage-trie writes) instead."""
        store = self._account_stores.get(address)
        if store is None:
            store = SettleAccountStorageDB(self._raw_store_db, self._get_storage_root(address), address)
            self._account_stores[address] = store
        return store  # type: ignore[return-value]  # py-evm declares AccountStorageDB; ours subclasses it

    def _forget_storage_reads(self) -> None:
        self._current.clear()
        self._original.clear()

    def _set_state_root(self, value: Hash32) -> None:
        self._forget_storage_reads()
        AccountDB.state_root.fset(self, value)  # type: ignore[attr-defined]  # a property; mypy sees its value type

    def _get_state_root(self) -> Hash32:
        """``self._trie.root_hash``, read from the hexary trie itself: the hashing trie only forwards the attribute."""
        return self._trie._db.root_hash  # type: ignore[attr-defined]  # the HashTrie's _db is the HexaryTrie

    state_root = property(_get_state_root, _set_state_root)

    def get_storage(self, address: Address, slot: int, from_journal: bool = True) -> int:
        key = (address, slot)
        if from_journal:
            value = self._current.get(key)
            if value is None:
                value = self._current[key] = super().get_storage(address, slot, True)
            return value
        value = self._original.get(key)
        if value is None:
            if not self._wiped and key not in self._written:
                value = self._current.get(key)  # unchanged since the lock: the current value is the original
            if value is None:
                value = super().get_storage(address, slot, False)
            self._original[key] = value
        return value

    def set_storage(self, address: Address, slot: int, value: int) -> None:
        super().set_storage(address, slot, value)
        key = (address, slot)
        self._written.add(key)
        if key in self._current:
            self._current[key] = value

    def _wipe_storage(self, address: Address) -> None:
        self._forget_storage_reads()
        self._wiped = True
        super()._wipe_storage(address)

    def discard(self, checkpoint: JournalDBCheckpoint) -> None:
        self._forget_storage_reads()
        super().discard(checkpoint)

    def lock_changes(self) -> None:
        self._original.clear()
        self._written.clear()
        self._wiped = False
        super().lock_changes()

    def make_state_root(self) -> Hash32:
        self._forget_storage_reads()
        return super().make_state_root()

    def persist(self) -> MetaWitnessAPI:
        self._forget_storage_reads()
        return super().persist()

    def set_balance(self, address: Address, balance: int) -> None:
        """py-evm's checks in py-evm's order; the new ``Account`` is built from the old one's fields, not deep-copied.

        Writing an existing account's own balance back is skipped: the journal
        would hold the bytes it already holds. With zero gas prices that is
        the up-front gas charge and the refund of every transaction.
        """
        validate_canonical_address(address, title="Storage Address")
        validate_uint256(balance, title="Account Balance")
        account = self._get_account(address)
        nonce, old_balance, storage_root, code_hash = account_fields(account)
        if balance == old_balance and _exists(account):
            return
        self._set_account(address, new_account(nonce, balance, storage_root, code_hash))

    def set_nonce(self, address: Address, nonce: int) -> None:
        validate_canonical_address(address, title="Storage Address")
        validate_uint64(nonce, title="Nonce")
        _, balance, storage_root, code_hash = account_fields(self._get_account(address))
        self._set_account(address, new_account(nonce, balance, storage_root, code_hash))

    def touch_account(self, address: Address) -> None:
        """py-evm's ``touch_account``, which writes the account back as it is; skipped for an account in the trie.

        Every message call touches its callee. For an account that must be in
        the trie already (not blank, see :func:`_exists`), writing its own
        bytes back changes neither the state nor what a revert returns to; a
        blank account is written, which creates a missing one, as in py-evm.
        """
        validate_canonical_address(address, title="Storage Address")
        account = self._get_account(address)
        if not _exists(account):
            self._set_account(address, account)

    def account_is_empty(self, address: Address) -> bool:
        """py-evm's nonce, code-hash and balance reads, from one account read.

        EIP-161 asks it of every touched account.
        """
        validate_canonical_address(address, title="Storage Address")
        account = self._get_account(address)
        return account.nonce == 0 and account.code_hash == EMPTY_SHA3 and account.balance == 0

    def increment_nonce(self, address: Address) -> None:
        """py-evm's ``get_nonce`` then ``set_nonce``, with one address check and one account read."""
        validate_canonical_address(address, title="Storage Address")
        nonce, balance, storage_root, code_hash = account_fields(self._get_account(address))
        nonce += 1
        validate_uint64(nonce, title="Nonce")
        self._set_account(address, new_account(nonce, balance, storage_root, code_hash))

    def get_code(self, address: Address) -> bytes:
        """py-evm's ``get_code``, remembering code read from the database.

        py-evm notes the address as a bytecode access for its witness when the
        code hash is among the keys read from the database (``keys_read``,
        which copies the whole set on each call; the membership test here is
        against the same set). A key is in that set only once it has been
        read from the database successfully, and code is stored under its own
        hash and never deleted: so for a hash in the set, every later read
        returns the same bytes, whether from the journal or the database.
        Those are answered from ``_code_by_hash`` (a token's code, read once
        per block instead of once per transfer), with the same witness note.
        """
        validate_canonical_address(address, title="Storage Address")
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_SHA3:
            return b""
        keys_read = self._raw_store_db._keys_read
        if code_hash in keys_read:
            code = self._code_by_hash.get(code_hash)
            if code is not None:
                self._accessed_bytecodes.add(address)
                return code
        try:
            code = self._journaldb[code_hash]
        except KeyError:
            raise MissingBytecode(code_hash) from KeyError
        finally:
            if code_hash in keys_read:
                self._accessed_bytecodes.add(address)
        if code_hash in keys_read:
            self._code_by_hash[code_hash] = code
        return code

    def _set_account(self, address: Address, account: Account) -> None:
        self._account_cache[address] = account
        self._journaltrie[address] = encode_account(account)

    # -- EIP-2929 warm set ---------------------------------------------------------

    def _reset_access_counters(self) -> None:
        self._journal_accessed_state = AccessedState()  # type: ignore[assignment]  # replaces the JournalDB

    def is_address_warm(self, address: Address) -> bool:
        return address in self._journal_accessed_state

    def mark_address_warm(self, address: Address) -> None:
        self._journal_accessed_state.add(address)  # type: ignore[attr-defined]  # an AccessedState here

    # A warm slot is keyed (address, slot): no bytes key to build per SLOAD and
    # SSTORE, and no clash with the 20-byte address keys. The set is private to
    # this class (py-evm's key format only ever meets its own warm set).

    def is_storage_warm(self, address: Address, slot: int) -> bool:
        return (address, slot) in self._journal_accessed_state  # type: ignore[operator]  # an AccessedState here

    def mark_storage_warm(self, address: Address, slot: int) -> None:
        self._journal_accessed_state.add((address, slot))  # type: ignore[attr-defined]  # an AccessedState here

    # -- EIP-161 deletion ------------------------------------------------------------

    def delete_account(self, address: Address) -> None:
        """Delete ``address``; skip the storage wipe when there is no storage to wipe.

        py-evm wipes storage by opening the account's storage store (if it is
        not open yet) and starting a new, empty trie in it, journaled so that a
        revert can return to the old one. When no store is open for the
        account and its storage root is already the empty trie's, the wipe
        changes nothing: a store opened later starts from the same empty root,
        and a revert has nothing to return to. That is the case of the empty
        coinbase, which EIP-161 deletes after every transaction on a chain
        whose fees are 0.
        """
        validate_canonical_address(address, title="Storage Address")
        if address in self._account_stores or self._get_storage_root(address) != BLANK_ROOT_HASH:
            self._wipe_storage(address)
        if address in self._account_cache:
            del self._account_cache[address]
        del self._journaltrie[address]
