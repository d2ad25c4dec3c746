"""Building a block from candidate transactions.

py-evm's ``MiningChain.apply_transaction`` rebuilds the transaction and receipt
tries after every transaction (quadratic in block size), and ``mine_all``
aborts the whole block on the first invalid transaction. This builder applies
candidates one by one against a single VM, leaves out those that fail
validation (with the reason, so the mempool can drop them), defers those that
no longer fit the gas limit, and computes every root once per block.

The block it returns is identical to what ``Chain.import_block`` produces from
the same transactions: it runs the same pre- and post-processing, so any
validator re-executing it gets the same hash.

The build budget (``deadline``) binds inside a transaction too
(:mod:`vm.deadline`): a transaction still running when it passes is rolled
back and left out. If it started in the first half of the budget it is
*too heavy* (:attr:`BuiltBlock.too_heavy`: it alone would hold every
validator that long, so the node drops it); if it started later it was only
unlucky, and is deferred to the next block.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ChainAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
)
from eth.vm.base import VM
from eth_utils import ValidationError

from vm import deadline as deadline_module
from vm.deadline import ExecutionTimeout
from vm.fast_path import DeferredHeader, persist_executed_block
from vm.senders import prefill_sender
from vm.transaction_checks import intrinsic_gas, run_checks


@dataclass(frozen=True, slots=True)
class ExcludedTransaction:
    transaction: SignedTransactionAPI
    """The transaction left out of the block."""
    reason: str
    """Why it is invalid against the block's state (nonce, balance, gas...)."""


@dataclass(frozen=True, slots=True)
class BuiltBlock:
    block: BlockAPI
    """The sealed block, with its state root, already persisted through the chain's db."""
    receipts: tuple[ReceiptAPI, ...]
    """One receipt per included transaction, in block order."""
    computations: tuple[ComputationAPI, ...]
    """The EVM computations, for revert data and traces."""
    excluded: tuple[ExcludedTransaction, ...]
    """Invalid transactions, to drop from the mempool."""
    deferred: tuple[SignedTransactionAPI, ...]
    """Valid-looking transactions that did not fit the block gas limit or the build budget."""
    too_heavy: tuple[ExcludedTransaction, ...] = ()
    """Transactions that ran past the build budget having started in its first half: they
    cost more time than a block may, so the node drops them (they are also in ``excluded``)."""


def build_block(
    chain: ChainAPI,
    parent_header: BlockHeaderAPI,
    candidates: list[SignedTransactionAPI],
    *,
    timestamp: int,
    coinbase: bytes,
    extra_data: bytes = b"",
    deadline: float | None = None,
    prepare_state: Callable[[StateAPI], None] | None = None,
) -> BuiltBlock:
    """Execute ``candidates`` on top of ``parent_header`` and persist the block.

    Writes go to ``chain``'s database; give it a write overlay to keep them
    pending until the caller commits. Past ``deadline`` (a ``time.perf_counter()``
    value) the remaining candidates are deferred, and a transaction still
    executing then is rolled back and left out (see the module docstring):
    every validator re-executes the block within its round timeout, so a
    proposer must not build for longer.
    """
    started = deadline_module.clock()
    template = chain.create_header_from_parent(
        parent_header,
        timestamp=max(timestamp, parent_header.timestamp),
        coinbase=coinbase,
        extra_data=extra_data,
    )
    vm = cast(VM, chain.get_vm(template))
    vm.block_preprocessing(vm.get_block())
    if prepare_state is not None:  # dev chains only: state edits (hardhat_setBalance...) land in this block
        prepare_state(vm.state)
        vm.state.lock_changes()

    # A duck-typed BlockHeaderAPI: py-evm's per-transaction calls only read fields and copy.
    header: Any = DeferredHeader(vm.get_header().copy(gas_used=0))
    # A state without ValidatedOnce (py-evm's own): the executor's checks, run again by it.
    validate_before_apply = getattr(vm.state, "validate_transaction_before_apply", None) or functools.partial(
        run_checks, vm.state
    )
    included: list[SignedTransactionAPI] = []
    receipts: list[ReceiptAPI] = []
    computations: list[ComputationAPI] = []
    excluded: list[ExcludedTransaction] = []
    deferred: list[SignedTransactionAPI] = []
    too_heavy: list[ExcludedTransaction] = []
    deadline_module.set_deadline(vm.state, deadline)
    half_budget = None if deadline is None else started + (deadline - started) / 2

    for transaction in candidates:
        if transaction.gas > header.gas_limit - header.gas_used or (
            deadline is not None and time.perf_counter() > deadline
        ):
            deferred.append(transaction)
            continue
        prefill_sender(transaction)
        # Validation happens before any state change; py-evm cannot roll a
        # transaction back once apply_transaction has locked the journal.
        try:
            # py-evm's validation misses an access list's intrinsic gas; it would
            # then fail half-way through the state changes (no rollback).
            if transaction.gas < intrinsic_gas(transaction):
                raise ValidationError(
                    f"intrinsic gas too low: gas {transaction.gas}, needs {intrinsic_gas(transaction)}"
                )
            vm.validate_transaction_against_header(header, transaction)
            validate_before_apply(transaction)
        except ValidationError as exc:
            excluded.append(ExcludedTransaction(transaction, str(exc)))
            continue
        # VM.apply_transaction (py-evm 0.12.1b1, no fork overrides it), less its
        # repeat of the header check just made on the same header.
        vm.state.lock_changes()
        began = deadline_module.clock()
        before = vm.state.snapshot() if deadline is not None else None
        try:
            computation = vm.state.apply_transaction(transaction)
        except ExecutionTimeout:
            assert before is not None and deadline is not None and half_budget is not None
            vm.state.revert(before)
            if began <= half_budget:
                heavy = ExcludedTransaction(
                    transaction,
                    f"execution exceeded the block-build budget of {(deadline - started) * 1000:.0f} ms "
                    f"(gas limit {transaction.gas})",
                )
                too_heavy.append(heavy)
                excluded.append(heavy)
            else:
                deferred.append(transaction)
            continue
        receipt = vm.make_receipt(header, transaction, computation, vm.state)
        vm.validate_receipt(receipt)
        header = vm.add_receipt_to_header(header, receipt)
        header = vm.increment_blob_gas_used(header, transaction)
        included.append(transaction)
        receipts.append(receipt)
        computations.append(computation)

    deadline_module.set_deadline(vm.state, None)
    filled = vm.set_block_transactions_and_withdrawals(
        vm.get_block(), header.resolve(), included, receipts
    )
    processed = vm.block_postprocessing(filled)
    sealed = vm.mine_block(processed).block
    persist_executed_block(chain, sealed)
    return BuiltBlock(
        block=sealed,
        receipts=tuple(receipts),
        computations=tuple(computations),
        excluded=tuple(excluded),
        deferred=tuple(deferred),
        too_heavy=tuple(too_heavy),
    )
