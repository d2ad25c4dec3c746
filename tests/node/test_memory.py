"""A committed block's writes do not outlive it (issue 26, memory).

py-trie and py-evm memoise on methods, so their caches hold tries and chain
databases, and through them each block's ``WriteOverlay`` with all its writes
(vm/library_memos.py). Unreleased, about a hundred past overlays stayed alive.
"""
from __future__ import annotations

import gc
from pathlib import Path

import pytest
import rlp
from eth_account import Account
from eth_hash.auto import keccak

from node.backend import Backend, PendingBlock
from node.config import ConfigFieldError, parse_config
from node.store import ChainStore
from tests.helpers import GENESIS, SIGNER, transfer
from vm.leveldb import WriteOverlay
from vm.trie_read import DEFAULT_NODE_CACHE, node_cache

BLOCKS = 12


def _live(kind: type) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def test_committed_blocks_leave_no_overlays_alive(tmp_path: Path) -> None:
    store = ChainStore(tmp_path / "node", GENESIS)
    backend = Backend(store, coinbase=bytes([1]) * 20)
    try:
        before = _live(WriteOverlay)
        for nonce in range(BLOCKS):
            backend.send_raw_transaction(transfer(0, nonce))
            assert backend.produce_block() is not None
            backend.account_view(bytes([2]) * 20)  # reads build the head's state (one overlay)
        assert store.head.block_number == BLOCKS
        # What may live on: the head state's read overlay. The block committed last is kept for receipt
        # reads (``Backend._last_committed``) without its PendingBlock and overlay. No older block.
        assert _live(WriteOverlay) - before <= 1
        assert _live(PendingBlock) == 0
    finally:
        store.close()


def test_recent_blocks_cache_holds_the_configured_number(tmp_path: Path) -> None:
    config = parse_config({"storage": {"recent_blocks": 3}}, tmp_path, "config.toml")
    assert config.storage.recent_blocks == 3
    with pytest.raises(ConfigFieldError, match="recent_blocks"):
        parse_config({"storage": {"recent_blocks": 0}}, tmp_path, "config.toml")
    store = ChainStore(tmp_path / "node", GENESIS)
    backend = Backend(store, coinbase=bytes([1]) * 20, recent_blocks=config.storage.recent_blocks)
    try:
        for _ in range(5):
            assert backend.produce_block(allow_empty=True) is not None
        for number in range(1, 6):
            header = store.header_by_number(number)
            assert header is not None
            assert backend.committed_block(header).block.number == number
        assert len(backend._recent_blocks) == 3
    finally:
        store.close()


# A contract that stores the block number under the block number: each call writes a new slot,
# so each block replaces the inner nodes on one path of its storage trie. Init code returns the
# runtime NUMBER NUMBER SSTORE STOP.
SLOT_WRITER_INIT = bytes.fromhex("63434355006000526004601cf3")


def _signed(nonce: int, to: bytes | None, data: bytes = b"", gas: int = 100_000) -> bytes:
    fields: dict[str, object] = {"chainId": GENESIS.chain_id, "nonce": nonce, "value": 0, "gas": gas,
                                 "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2, "data": data}
    if to is not None:
        fields["to"] = to
    return bytes(Account.sign_transaction(fields, SIGNER.accounts[0].key).raw_transaction)


def _created_address() -> bytes:
    return keccak(rlp.encode([bytes.fromhex(SIGNER.accounts[0].address[2:]), 0]))[12:]


def test_trie_node_cache_keeps_the_configured_number_across_blocks(tmp_path: Path) -> None:
    """Superseded storage-trie nodes leave the decoded-node cache; it used to grow to 50,000 (about 50 MB).

    Before the fix the cache held 23 nodes after 20 such blocks and 54 after 40.
    """
    config = parse_config({"storage": {"trie_node_cache": 16}}, tmp_path, "config.toml")
    with pytest.raises(ConfigFieldError, match="trie_node_cache"):
        parse_config({"storage": {"trie_node_cache": 1}}, tmp_path, "config.toml")
    assert parse_config({}, tmp_path, "config.toml").storage.trie_node_cache == DEFAULT_NODE_CACHE
    store = ChainStore(tmp_path / "node", GENESIS)
    backend = Backend(store, coinbase=bytes([1]) * 20)
    node_cache.set_limit(config.storage.trie_node_cache)
    try:
        backend.send_raw_transaction(_signed(0, None, SLOT_WRITER_INIT))
        assert backend.produce_block() is not None
        contract = _created_address()
        blocks = BLOCKS * 5
        for nonce in range(1, blocks + 1):
            backend.send_raw_transaction(_signed(nonce, contract))
            assert backend.produce_block() is not None
        state = backend.state_at(backend.head)
        assert state.get_storage(contract, blocks + 1) == blocks + 1  # the slots are written and read right
        assert len(node_cache) <= 16
        # Still a cache: the current trie's root is decoded once and then served from it.
        root = state._account_db._get_storage_root(contract)
        node_cache.clear()
        state.get_storage(contract, 3)
        assert node_cache.get(root) is not None
    finally:
        node_cache.set_limit(DEFAULT_NODE_CACHE)
        store.close()
