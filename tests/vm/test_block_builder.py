import dataclasses
import time

from eth.db.atomic import AtomicDB

from tests.helpers import GENESIS, transfer
from vm.block_builder import build_block
from vm.chain import build_genesis


def _decode(chain, raw):
    return chain.get_vm().get_transaction_builder().decode(raw)


def test_built_block_is_what_a_validator_imports():
    producer = build_genesis(AtomicDB(), GENESIS)
    validator = build_genesis(AtomicDB(), GENESIS)
    assert producer.get_canonical_head().hash == validator.get_canonical_head().hash
    txs = [_decode(producer, transfer(0, n)) for n in range(20)]
    gapped = _decode(producer, transfer(1, 3))
    built = build_block(producer, producer.get_canonical_head(), txs[:10] + [gapped] + txs[10:],
                        timestamp=int(time.time()), coinbase=b"\x01" * 20)
    assert len(built.block.transactions) == 20
    assert [e.transaction.hash for e in built.excluded] == [gapped.hash]
    assert "nonce" in built.excluded[0].reason
    assert built.block.header.base_fee_per_gas == 0
    imported = validator.import_block(built.block).imported_block
    assert imported.hash == built.block.hash
    assert imported.header.state_root == built.block.header.state_root


def test_base_fee_stays_zero_after_full_blocks_and_gas_limit_defers():
    chain = build_genesis(AtomicDB(), dataclasses.replace(GENESIS, gas_limit=210_000))
    parent = chain.get_canonical_head()
    limit = parent.gas_limit
    fits = limit // 21000
    txs = [_decode(chain, transfer(0, n)) for n in range(fits + 3)]
    built = build_block(chain, parent, txs, timestamp=1, coinbase=b"\x02" * 20)
    assert len(built.block.transactions) == fits
    assert len(built.deferred) == 3
    assert built.block.header.gas_used > limit // 2  # above the EIP-1559 target
    child = build_block(chain, built.block.header, list(built.deferred), timestamp=1, coinbase=b"\x02" * 20)
    assert child.block.header.base_fee_per_gas == 0
    assert child.block.header.timestamp == built.block.header.timestamp  # may repeat, never goes back
    assert len(child.block.transactions) == 3


def test_access_list_below_intrinsic_gas_is_excluded_not_a_crash():
    """py-evm validates such a transaction, then fails half-way through applying it."""
    from eth_account import Account

    from tests.helpers import SIGNER

    chain = build_genesis(AtomicDB(), GENESIS)
    raw = bytes(Account.sign_transaction({
        "type": 2, "chainId": 1337, "nonce": 0, "to": SIGNER.accounts[1].address, "value": 1, "gas": 21000,
        "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
        "accessList": [{"address": SIGNER.accounts[2].address, "storageKeys": []}],
    }, SIGNER.accounts[0].key).raw_transaction)
    good = _decode(chain, transfer(0, 0))
    built = build_block(chain, chain.get_canonical_head(), [_decode(chain, raw), good], timestamp=1,
                        coinbase=b"\x01" * 20)
    assert [tx.hash for tx in built.block.transactions] == [good.hash]
    assert "intrinsic gas too low" in built.excluded[0].reason


def test_a_validated_transaction_skips_only_the_executors_next_check():
    """ValidatedOnce spares the executor its immediate repeat for the same object, once."""
    import pytest
    from eth_utils import ValidationError

    from tests.helpers import SIGNER

    chain = build_genesis(AtomicDB(), GENESIS)
    state = chain.get_vm().state
    executor = state.get_transaction_executor()
    first, gapped = _decode(chain, transfer(0, 0)), _decode(chain, transfer(0, 5))
    state.validate_transaction_before_apply(first)
    state.set_nonce(bytes.fromhex(SIGNER.accounts[0].address[2:]), 1)  # first is no longer valid...
    executor.validate_transaction(first)  # ...but its check is the skipped repeat
    with pytest.raises(ValidationError, match="nonce"):
        executor.validate_transaction(first)  # only once
    state.set_nonce(bytes.fromhex(SIGNER.accounts[0].address[2:]), 0)
    state.validate_transaction_before_apply(first)
    with pytest.raises(ValidationError, match="nonce"):
        executor.validate_transaction(gapped)  # a check of anything else spends the skip...
    state.set_nonce(bytes.fromhex(SIGNER.accounts[0].address[2:]), 1)
    with pytest.raises(ValidationError, match="nonce"):
        executor.validate_transaction(first)  # ...so the same object is checked in full again
    with pytest.raises(ValidationError, match="nonce"):
        state.validate_transaction_before_apply(first)  # a failed check leaves no skip behind
    with pytest.raises(ValidationError, match="nonce"):
        executor.validate_transaction(first)


def test_past_the_deadline_the_remaining_candidates_are_deferred():
    chain = build_genesis(AtomicDB(), GENESIS)
    txs = [_decode(chain, transfer(0, n)) for n in range(5)]
    built = build_block(chain, chain.get_canonical_head(), txs, timestamp=1, coinbase=b"\x02" * 20,
                        deadline=time.perf_counter() - 1)
    assert len(built.block.transactions) == 0
    assert [tx.hash for tx in built.deferred] == [tx.hash for tx in txs]


def test_each_candidate_is_validated_once_in_a_build_and_once_in_an_import(monkeypatch):
    """The builder's checks spare the executor its repeat; an import still runs them, in one pass each."""
    from eth.vm.forks.london.transactions import DynamicFeeTransaction

    import vm.transaction_checks

    checked = []
    own_validate, one_pass = DynamicFeeTransaction.validate, vm.transaction_checks.passes_checks
    monkeypatch.setattr(DynamicFeeTransaction, "validate",
                        lambda self: (checked.append(("py-evm", self.nonce)), own_validate(self)))
    monkeypatch.setattr(vm.transaction_checks, "passes_checks",
                        lambda state, tx: (checked.append(("one pass", tx.nonce)), one_pass(state, tx))[1])
    producer = build_genesis(AtomicDB(), GENESIS)
    txs = [_decode(producer, transfer(0, n)) for n in range(3)]
    built = build_block(producer, producer.get_canonical_head(), txs, timestamp=1, coinbase=b"\x01" * 20)
    assert len(built.block.transactions) == 3
    assert checked == [("one pass", 0), ("one pass", 1), ("one pass", 2)]
    checked.clear()
    validator = build_genesis(AtomicDB(), GENESIS)
    validator.import_block(built.block)
    assert checked == [("one pass", 0), ("one pass", 1), ("one pass", 2)]
