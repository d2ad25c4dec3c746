import dataclasses
from types import SimpleNamespace

import pytest

from node.backend import Backend
from node.store import ChainStore, GenesisMismatch
from tests.helpers import GENESIS, transfer


def test_block_commit_survives_reopen_and_uncommitted_overlay_leaves_nothing(tmp_path):
    store = ChainStore(tmp_path, GENESIS)
    backend = Backend(store, coinbase=b"\x01" * 20)
    backend.send_raw_transaction(transfer(0, 0))
    built = backend.produce_block()
    assert built is not None and built.block.number == 1
    # A block built but never committed (a crash before the write) leaves no trace.
    overlay, chain = store.overlay_chain()
    from vm.block_builder import build_block

    build_block(chain, store.head, [], timestamp=10**9, coinbase=b"\x01" * 20)
    assert len(overlay) > 0
    store.close()

    reopened = ChainStore(tmp_path, GENESIS)
    assert reopened.head.hash == built.block.hash
    assert reopened.transaction_location(built.block.transactions[0].hash) == (1, 0)
    assert list(reopened.blocks_with_logs_from(b"\x00" * 20, 0, 10)) == []
    reopened.close()


def test_data_dir_of_another_genesis_is_refused(tmp_path):
    ChainStore(tmp_path, GENESIS).close()
    other = dataclasses.replace(GENESIS, chain_id=4242)
    with pytest.raises(GenesisMismatch, match="holds a chain with genesis id 0x"):
        ChainStore(tmp_path, other)


def test_produce_block_without_transactions_is_a_no_op(tmp_path):
    store = ChainStore(tmp_path, GENESIS)
    backend = Backend(store, coinbase=b"\x01" * 20)
    assert backend.produce_block() is None
    assert backend.head.block_number == 0
    assert backend.produce_block(allow_empty=True).block.number == 1
    store.close()


def test_log_index_finds_blocks_by_emitting_address_within_range(tmp_path):
    store = ChainStore(tmp_path, GENESIS)
    emitter, other = b"\x0a" * 20, b"\x0b" * 20
    receipt = SimpleNamespace(logs=[SimpleNamespace(address=emitter)])
    for number in (1, 4, 9):
        overlay, _ = store.overlay_chain()
        store.commit(overlay, SimpleNamespace(number=number), (receipt,))
    assert list(store.blocks_with_logs_from(emitter, 0, 100)) == [1, 4, 9]
    assert list(store.blocks_with_logs_from(emitter, 2, 9)) == [4, 9]
    assert list(store.blocks_with_logs_from(emitter, 5, 8)) == []
    assert list(store.blocks_with_logs_from(other, 0, 100)) == []
    store.close()
