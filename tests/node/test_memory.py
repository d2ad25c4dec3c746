"""A committed block's writes do not outlive it (issue 26, memory).

py-trie and py-evm memoise on methods, so their caches hold tries and chain
databases, and through them each block's ``WriteOverlay`` with all its writes
(vm/library_memos.py). Unreleased, about a hundred past overlays stayed alive.
"""
from __future__ import annotations

import gc
from pathlib import Path

import pytest

from node.backend import Backend, PendingBlock
from node.config import ConfigFieldError, parse_config
from node.store import ChainStore
from tests.helpers import GENESIS, transfer
from vm.leveldb import WriteOverlay

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
