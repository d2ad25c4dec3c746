"""The node's chain store: one LevelDB data dir holding blocks, state and indexes.

py-evm's ``ChainDB`` keeps headers, bodies, receipts, the canonical chain and
the transaction index. Settle adds its own keys under the ``settle:`` prefix
(genesis identity, the log index). Every block is written by :meth:`commit`, one
synced plyvel batch: a SIGKILL at any moment leaves either the whole block or
none of it.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI
from eth.db.schema import SchemaV1
from eth.exceptions import BlockNotFound, HeaderNotFound
from eth.rlp.sedes import chain_gaps
from eth_hash.auto import keccak
from eth_typing import BlockNumber, Hash32

from genesis.loader import genesis_to_json
from genesis.model import Genesis
from vm.chain import SettleChain, build_genesis, chain_class_for, genesis_header
from vm.leveldb import LevelDB, WriteOverlay
from vm.library_memos import release_block_memos

GENESIS_ID_KEY = b"settle:genesis-id"
LOG_INDEX_PREFIX = b"settle:log:"  # + address(20) + block number (8, big-endian)
CERTIFICATE_PREFIX = b"settle:cert:"  # + block hash (32) -> encoded commit certificate
SAFETY_KEY = b"settle:consensus-safety"  # the validator's write-ahead consensus record


def genesis_id(genesis: Genesis) -> bytes:
    """The network's identity: block 0's hash and the whole canonical genesis document.

    Block 0's header does not cover the chain id, the validator set or the
    consensus parameters, so two networks could share it; this hash cannot.
    """
    document = json.dumps(genesis_to_json(genesis), sort_keys=True, separators=(",", ":")).encode()
    return keccak(genesis_header(genesis).hash + document)


class StoreError(Exception):
    """Root of chain-store errors."""


class GenesisMismatch(StoreError):
    def __init__(self, data_dir: Path, stored: bytes, expected: bytes) -> None:
        super().__init__(
            f"data dir {data_dir} holds a chain with genesis id 0x{stored.hex()}, "
            f"but this genesis has id 0x{expected.hex()}; use another --datadir "
            "or the genesis this data dir was created with"
        )
        self.stored = stored
        self.expected = expected


class ChainStore:
    """Owns the data dir's LevelDB; opened once per process, closed on shutdown."""

    def __init__(self, data_dir: Path, genesis: Genesis, *, leveldb_cache_bytes: int = 8 * 1024 * 1024,
                 leveldb_write_buffer_bytes: int = 4 * 1024 * 1024) -> None:
        self.data_dir = Path(data_dir)
        self.genesis = genesis
        self.db = LevelDB(self.data_dir / "chain", cache_bytes=leveldb_cache_bytes,
                          write_buffer_bytes=leveldb_write_buffer_bytes)
        self.chain_class: type[SettleChain] = chain_class_for(
            genesis.chain_id, genesis.transaction_gas_cap, genesis.permissions.registry_address
        )
        expected = genesis_id(genesis)
        stored = self.db.get(GENESIS_ID_KEY)
        if stored is None:
            overlay = WriteOverlay(self.db)
            build_genesis(overlay, genesis)
            overlay[GENESIS_ID_KEY] = expected
            self.db.write_many(overlay.pending())
        elif stored != expected:
            self.db.close()
            raise GenesisMismatch(self.data_dir, stored, expected)
        self.genesis_id = expected
        self.chain = self.chain_class(self.db)
        self._head: BlockHeaderAPI | None = None
        """Only :meth:`commit` moves the head: it is read once per commit, not once per query."""

    # -- writing ---------------------------------------------------------------
    def overlay_chain(self) -> tuple[WriteOverlay, SettleChain]:
        """A chain whose writes stay pending in an overlay (block building, eth_call)."""
        overlay = WriteOverlay(self.db)
        return overlay, self.chain_class(overlay)

    def commit(
        self,
        overlay: WriteOverlay,
        block: BlockAPI,
        receipts: tuple[ReceiptAPI, ...],
        certificate: bytes | None = None,
    ) -> None:
        """Write a block, its state, its indexes and its commit certificate in one synced batch."""
        for address in {log.address for receipt in receipts for log in receipt.logs}:
            overlay[LOG_INDEX_PREFIX + address + block.number.to_bytes(8, "big")] = b""
        if certificate is not None:
            overlay[CERTIFICATE_PREFIX + block.hash] = certificate
        self.db.write_many(overlay.pending())
        self._head = None
        release_block_memos()  # libraries' method memos would keep this overlay (and older ones) alive

    def rewind_to(self, header: BlockHeaderAPI) -> list[BlockAPI]:
        """Dev chains only (``evm_revert``): make ``header`` the head again; returns the blocks dropped.

        One synced batch moves the canonical head back and deletes what names
        the later blocks: their number-to-hash entries, transaction index
        entries, log index entries, commit certificates, and the validator's
        safety record (a single dev validator has nobody to contradict). A
        crash leaves either the old chain or the rewound one. The dropped
        blocks' headers, bodies and state stay as unreferenced data, as any
        non-canonical block's do; the next block at each height replaces them
        in the canonical chain.
        """
        head = self.head
        dropped = []
        changes: dict[bytes, bytes | None] = {}
        for number in range(header.block_number + 1, head.block_number + 1):
            dropped_header = self.header_by_number(number)
            if dropped_header is None:  # pragma: no cover - the canonical chain has no gaps
                continue
            block = self.block(dropped_header)
            dropped.append(block)
            changes[SchemaV1.make_block_number_to_hash_lookup_key(BlockNumber(number))] = None
            for transaction in block.transactions:
                changes[SchemaV1.make_transaction_hash_to_block_lookup_key(Hash32(transaction.hash))] = None
            for receipt in self.receipts(dropped_header):
                for entry in receipt.logs:
                    changes[LOG_INDEX_PREFIX + entry.address + number.to_bytes(8, "big")] = None
            changes[CERTIFICATE_PREFIX + dropped_header.hash] = None
        changes[SchemaV1.make_canonical_head_hash_lookup_key()] = header.hash
        # py-evm's record of which heights it holds: nothing above the new head, so that the next
        # block at each height is written as new rather than compared with a dropped one.
        known = rlp.encode(((), header.block_number + 1), sedes=chain_gaps)
        changes[SchemaV1.make_header_chain_gaps_lookup_key()] = known
        changes[SchemaV1.make_chain_gaps_lookup_key()] = known
        changes[SAFETY_KEY] = None
        self.db.write_many(changes)
        self._head = None
        release_block_memos()
        return dropped

    def save_safety_record(self, record: bytes) -> None:
        """Persist (synced) what this validator must never contradict, before it votes."""
        self.db.write_many({SAFETY_KEY: record})

    def safety_record(self) -> bytes | None:
        return self.db.get(SAFETY_KEY)

    def certificate(self, block_hash: bytes) -> bytes | None:
        """The encoded commit certificate stored with a block, if any (block 0 has none)."""
        return self.db.get(CERTIFICATE_PREFIX + block_hash)

    # -- reading ---------------------------------------------------------------
    @property
    def head(self) -> BlockHeaderAPI:
        if self._head is None:
            self._head = self.chain.get_canonical_head()
        return self._head

    def header_by_number(self, number: int) -> BlockHeaderAPI | None:
        try:
            return self.chain.get_canonical_block_header_by_number(BlockNumber(number))
        except HeaderNotFound:
            return None

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        try:
            header = self.chain.get_block_header_by_hash(Hash32(block_hash))
        except HeaderNotFound:
            return None
        canonical = self.header_by_number(header.block_number)
        return header if canonical is not None and canonical.hash == header.hash else None

    def block(self, header: BlockHeaderAPI) -> BlockAPI:
        try:
            return self.chain.get_block_by_header(header)
        except BlockNotFound as exc:  # pragma: no cover - header without body
            raise StoreError(f"block body missing for 0x{header.hash.hex()}") from exc

    def receipts(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        vm_class = self.chain.get_vm_class(header)
        return self.chain.chaindb.get_receipts(header, vm_class.get_receipt_builder())

    def transaction_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(block number, index) of a committed transaction, or None."""
        try:
            number, index = self.chain.chaindb.get_transaction_index(Hash32(tx_hash))
        except Exception:  # TransactionNotFound, or a stale index entry
            return None
        header = self.header_by_number(number)
        if header is None:
            return None
        return number, index

    def blocks_with_logs_from(self, address: bytes, start: int, end: int) -> Iterator[int]:
        """Block numbers in [start, end] with at least one log emitted by ``address``."""
        prefix = LOG_INDEX_PREFIX + address
        start_key = prefix + start.to_bytes(8, "big")
        stop_key = prefix + (end + 1).to_bytes(8, "big")
        for key in self.db.iterate_range(start_key, stop_key):
            yield int.from_bytes(key[len(prefix):], "big")

    def close(self) -> None:
        self.db.close()
