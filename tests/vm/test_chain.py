"""``vm.chain``: the chain database's transaction lookup entries are py-evm's bytes."""
from __future__ import annotations

import rlp
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.db.chain import BlockDataKey, ChainDB
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import GENESIS, transfer
from vm.block_builder import build_block
from vm.chain import SettleChainDB, build_genesis


class _Header:
    def __init__(self, block_number: int) -> None:
        self.block_number = block_number


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64), st.integers(0, 2**20), st.binary(min_size=32, max_size=32))
def test_transaction_lookup_entry_is_py_evms(block_number: int, index: int, transaction_hash: bytes) -> None:
    ours, theirs = MemoryDB(), MemoryDB()
    SettleChainDB._add_transaction_to_canonical_chain(ours, transaction_hash, _Header(block_number), index)
    ChainDB._add_transaction_to_canonical_chain(theirs, transaction_hash, _Header(block_number), index)
    assert ours.kv_store == theirs.kv_store
    (value,) = ours.kv_store.values()
    assert rlp.decode(value, sedes=BlockDataKey) == BlockDataKey(block_number, index)


def test_a_built_blocks_transactions_are_found_by_hash() -> None:
    chain = build_genesis(AtomicDB(), GENESIS)
    assert type(chain.chaindb) is SettleChainDB
    builder = chain.get_vm().get_transaction_builder()
    transactions = [builder.decode(transfer(0, nonce)) for nonce in range(3)]
    built = build_block(chain, chain.get_canonical_head(), transactions, timestamp=1, coinbase=b"\x01" * 20)
    chain.chaindb.persist_block(built.block)
    for index, transaction in enumerate(transactions):
        assert chain.chaindb.get_transaction_index(transaction.hash) == (1, index)
