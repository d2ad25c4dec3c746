"""Settle's header rules on import: repeated timestamps pass, PREVRANDAO is fixed by the parent."""
import pytest
from eth.db.atomic import AtomicDB
from eth_utils import ValidationError

from tests.helpers import GENESIS, transfer
from vm.block_builder import build_block
from vm.chain import build_genesis


def _built(timestamp: int):
    producer = build_genesis(AtomicDB(), GENESIS)
    tx = producer.get_vm().get_transaction_builder().decode(transfer(0, 0))
    first = build_block(producer, producer.get_canonical_head(), [tx], timestamp=timestamp, coinbase=b"\x01" * 20)
    second = build_block(producer, first.block.header, [], timestamp=timestamp, coinbase=b"\x01" * 20)
    return first.block, second.block


def test_child_with_the_parents_timestamp_imports():
    first, second = _built(GENESIS.timestamp + 5)
    assert second.header.timestamp == first.header.timestamp
    validator = build_genesis(AtomicDB(), GENESIS)
    validator.import_block(first)
    assert validator.import_block(second).imported_block.hash == second.hash


def test_child_earlier_than_its_parent_is_rejected():
    first, second = _built(GENESIS.timestamp + 5)
    validator = build_genesis(AtomicDB(), GENESIS)
    validator.import_block(first)
    earlier = second.copy(header=second.header.copy(timestamp=first.header.timestamp - 1))
    with pytest.raises(ValidationError, match="earlier than the parent"):
        validator.import_block(earlier)


def test_a_chosen_prevrandao_is_rejected():
    first, _ = _built(GENESIS.timestamp + 5)
    validator = build_genesis(AtomicDB(), GENESIS)
    ground = first.copy(header=first.header.copy(mix_hash=b"\x42" * 32))
    with pytest.raises(ValidationError, match="PREVRANDAO"):
        validator.import_block(ground)
