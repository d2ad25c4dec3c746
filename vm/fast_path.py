"""Settle's faster block processing, as a mixin over py-evm's VM classes.

Each override computes exactly what the py-evm method it replaces computes (the
equivalence tests in ``tests/vm`` hold it to that, root for root, against the
unmodified VM), only with less work:

* **Transaction, receipt and withdrawal roots** come from
  :mod:`vm.ordered_trie` (one pass, each node hashed once) instead of inserting
  into a ``HexaryTrie`` key by key. py-evm builds the transaction trie twice per
  block (filling and validating); here it is built once and remembered.
* **EIP-6110 deposit requests** are read from the receipts the VM has just
  produced, not decoded back out of the receipt trie in the database.
* **Blob gas** accounting does not copy the header for transactions that
  carry no blobs (all of Settle's).
* **Header accounting** while transactions are applied goes through a
  :class:`DeferredHeader`: py-evm's own ``add_receipt_to_header`` runs for
  every transaction, but its ``header.copy`` (a deep copy and full re-validation
  of a 20-field rlp object) is recorded and applied once, at the end.
* **Validation once.** The builder validates each candidate (its own fields,
  then against the state) before applying it, to leave invalid ones out
  without touching the state, and py-evm's executor then runs both checks
  again on the same, unchanged transaction and state. :class:`ValidatedOnce`
  lets the executor skip the repeat for that one transaction object, when
  nothing happened in between.
* **Receipts** get their bloom from :mod:`vm.receipts`' cache of per-value
  bloom masks, and ``validate_receipt`` checks it against the same masks.
* **Persisting** a block (:func:`persist_executed_block`) writes what
  ``Chain.persist_block`` writes, without reading the block back and
  recovering every sender again to build a result nobody uses.

The mixin goes first in the bases, e.g. ``class SettleVM(FastBlockRules,
SettleReferenceVM)``; it works on any post-Cancun py-evm VM.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rlp
from eth._utils.db import get_parent_header
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ChainAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
    TransactionFieldsAPI,
    WithdrawalAPI,
)
from eth.constants import MAX_UNCLES
from eth.validation import validate_length_lte
from eth.vm.base import VM
from eth.vm.forks.byzantium import EIP658_STATUS_CODES
from eth.vm.forks.byzantium.constants import (
    EIP658_TRANSACTION_STATUS_CODE_FAILURE,
    EIP658_TRANSACTION_STATUS_CODE_SUCCESS,
)
from eth.vm.forks.cancun import get_total_blob_gas
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.prague.constants import DEPOSIT_CONTRACT_ADDRESS
from eth_hash.auto import keccak
from eth_utils import ValidationError, encode_hex

from vm.encoding import encode_receipt
from vm.ordered_trie import ordered_trie_root_and_nodes
from vm.receipts import is_bloom_of_own_logs, make_receipt, validate_receipt_bloom
from vm.transaction_checks import OnePassTransactionChecks


def persist_executed_block(chain: ChainAPI, block: BlockAPI) -> None:
    """``Chain.persist_block``: the chain-level checks, then the writes; no read-back."""
    chain.validate_block(block)
    chain.chaindb.persist_block(block)


class ValidatedOnce(OnePassTransactionChecks):
    """State mixin: :meth:`validate_transaction_before_apply` spares the executor a second validation.

    The skip applies only to the very transaction object validated last, and
    only at the executor's next check, whatever transaction that is for. The
    caller applies the transaction right away (``VM.apply_transaction``
    touches no state before its executor validates).
    """

    _validated_transaction: SignedTransactionAPI | None = None

    def validate_transaction_before_apply(self, transaction: SignedTransactionAPI) -> None:
        """The executor's checks, in its order: the transaction's own (``validate``), then against the state."""
        self._validated_transaction = None
        self.check_transaction(transaction)
        self._validated_transaction = transaction

    def take_validated(self, transaction: SignedTransactionAPI) -> bool:
        """Whether :meth:`validate_transaction_before_apply` has just run for this very object.

        Either way the mark is spent.
        """
        validated = transaction is self._validated_transaction
        self._validated_transaction = None
        return validated


class DeferredHeader:
    """A block header whose ``copy(**fields)`` is cheap: changes pile up until :meth:`resolve`.

    It stands in for the header py-evm passes from transaction to transaction
    (``apply_transaction``, ``add_receipt_to_header``, ``increment_blob_gas_used``),
    which only read fields and copy with changes. Reading a field gives the
    latest value, so every rule sees what it would see on a real copy.
    """

    __slots__ = ("_header", "_changes")

    def __init__(self, header: BlockHeaderAPI, changes: dict[str, Any] | None = None) -> None:
        self._header = header
        self._changes = changes or {}

    def __getattr__(self, name: str) -> Any:
        changes = self._changes
        if name in changes:
            return changes[name]
        return getattr(self._header, name)

    def copy(self, **fields: Any) -> DeferredHeader:
        return DeferredHeader(self._header, {**self._changes, **fields})

    def resolve(self) -> BlockHeaderAPI:
        """The real header, copied once with every change."""
        return self._header.copy(**self._changes) if self._changes else self._header


def _root_and_nodes(
    items: Sequence[Any], encode: Callable[[Any], bytes] = lambda item: item.encode()
) -> tuple[bytes, dict[bytes, bytes]]:
    return ordered_trie_root_and_nodes([encode(item) for item in items])


@dataclass(frozen=True)
class _ReceiptsInHand:
    """What Prague's deposit scan reads from a block: its requests list and its receipts."""

    block_requests: list[bytes]
    """The block's own list, appended to in place."""
    receipts: tuple[ReceiptAPI, ...]

    def get_receipts(self, _chaindb: Any) -> tuple[ReceiptAPI, ...]:
        return self.receipts


def _with_deposit_contract_logs(receipts: Sequence[ReceiptAPI]) -> tuple[ReceiptAPI, ...]:
    """The receipts with a log from the deposit contract: the only ones Prague's scan takes anything from.

    py-evm's scan converts every log's first topic to bytes before it looks at
    the log's address; leaving out receipts it would take nothing from gives
    the same request data for a fraction of the work.
    """
    return tuple(
        receipt for receipt in receipts if any(log.address == DEPOSIT_CONTRACT_ADDRESS for log in receipt.logs)
    )


def _log_entries(computation: ComputationAPI) -> Any:
    """``computation.get_log_entries()``; for a frame without children, its own entries in order, without the walk.

    py-evm sorts the (counter, address, topics, data) entries of the frame
    and its children and drops the counter; a failed frame has none.
    """
    if computation.children:
        return computation.get_log_entries()
    if computation.is_error:
        return ()
    return tuple([entry[1:] for entry in sorted(computation._log_entries)])


if TYPE_CHECKING:
    # What the mixin is mixed into, so that mypy checks its use of the VM's attributes.
    _VM = VM
else:
    _VM = object


class FastBlockRules(_VM):
    """Overrides for py-evm's ``VM``; see the module docstring."""

    # Set by set_block_transactions_and_withdrawals for the block being filled.
    _settle_transaction_root: tuple[tuple[bytes, ...], bytes] | None = None
    _settle_receipts: tuple[bytes, tuple[ReceiptAPI, ...]] | None = None

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        """``VM.set_block_transactions_and_withdrawals`` with one-pass tries."""
        transaction_root, transaction_nodes = _root_and_nodes(transactions)
        self.chaindb.persist_trie_data_dict(transaction_nodes)  # type: ignore[arg-type]  # keys are 32-byte node hashes
        receipt_root, receipt_nodes = _root_and_nodes(receipts, encode_receipt)
        self.chaindb.persist_trie_data_dict(receipt_nodes)  # type: ignore[arg-type]  # keys are 32-byte node hashes
        self._settle_transaction_root = (tuple(tx.hash for tx in transactions), transaction_root)
        self._settle_receipts = (receipt_root, tuple(receipts))

        block_fields: dict[str, Any] = {"transactions": transactions}
        header_fields: dict[str, Any] = {
            "transaction_root": transaction_root,
            "receipt_root": receipt_root,
        }
        if withdrawals:
            withdrawals_root, withdrawal_nodes = _root_and_nodes(withdrawals)
            self.chaindb.persist_trie_data_dict(withdrawal_nodes)  # type: ignore[arg-type]  # keys are 32-byte node hashes
            block_fields["withdrawals"] = withdrawals
            header_fields["withdrawals_root"] = withdrawals_root
        block_fields["header"] = new_header.copy(**header_fields)
        return base_block.copy(**block_fields)

    def increment_blob_gas_used(self, old_header: BlockHeaderAPI, transaction: TransactionFieldsAPI) -> BlockHeaderAPI:
        """Cancun's rule, without a header copy when the transaction has no blobs.

        Only a blob transaction (EIP-4844's type 3) has blob hashes; for every
        other type py-evm's ``get_total_blob_gas`` catches an ``AttributeError``
        or ``NotImplementedError`` to find 0, which costs more than the rest of
        the rule.
        """
        if getattr(transaction, "type_id", None) != BLOB_TX_TYPE:
            return old_header
        blob_gas = get_total_blob_gas(transaction)
        if blob_gas == 0:
            return old_header
        return old_header.copy(blob_gas_used=old_header.blob_gas_used + blob_gas)

    def process_deposit_request_data(self, block: BlockAPI) -> None:
        """Prague's deposit scan over the receipts in hand, when they are this block's."""
        if self._settle_receipts is None or self._settle_receipts[0] != block.header.receipt_root:
            super().process_deposit_request_data(block)  # type: ignore[misc]  # Prague VM's
            return
        super().process_deposit_request_data(  # type: ignore[misc]  # Prague VM's
            _ReceiptsInHand(block.block_requests, _with_deposit_contract_logs(self._settle_receipts[1]))
        )

    def add_receipt_to_header(self, old_header: BlockHeaderAPI, receipt: ReceiptAPI) -> BlockHeaderAPI:
        """Byzantium's rule; the blooms OR'd as ints (``eth_bloom.BloomFilter``'s ``|`` is that OR)."""
        return old_header.copy(bloom=old_header.bloom | receipt.bloom, gas_used=receipt.gas_used)

    @classmethod
    def make_receipt(
        cls,
        base_header: BlockHeaderAPI,
        transaction: SignedTransactionAPI,
        computation: ComputationAPI,
        state: StateAPI,
    ) -> ReceiptAPI:
        """Byzantium's ``make_receipt``, building the bloom through :mod:`vm.receipts`' cached masks."""
        gas_used = base_header.gas_used + cls.finalize_gas_used(transaction, computation)  # type: ignore[attr-defined]  # Byzantium VM's
        status = (
            EIP658_TRANSACTION_STATUS_CODE_FAILURE if computation.is_error else EIP658_TRANSACTION_STATUS_CODE_SUCCESS
        )
        return make_receipt(transaction, status, gas_used, _log_entries(computation))

    @classmethod
    def validate_receipt(cls, receipt: ReceiptAPI) -> None:
        """Byzantium's ``validate_receipt``: the bloom holds every log value, and the status is 0 or 1.

        A receipt :func:`vm.receipts.make_receipt` built, its bloom the OR of
        its own logs' masks, holds them by construction: its check is skipped.
        """
        if not is_bloom_of_own_logs(receipt):
            validate_receipt_bloom(receipt)
        if receipt.state_root not in EIP658_STATUS_CODES:
            raise ValidationError(
                "The receipt's `state_root` must be one of "
                f"[{encode_hex(EIP658_TRANSACTION_STATUS_CODE_SUCCESS)}, "
                f"{encode_hex(EIP658_TRANSACTION_STATUS_CODE_FAILURE)}].  Got: "
                f"{encode_hex(receipt.state_root)}"
            )

    def _transaction_root(self, transactions: Sequence[SignedTransactionAPI]) -> bytes:
        if self._settle_transaction_root is not None:
            hashes, root = self._settle_transaction_root
            if hashes == tuple(tx.hash for tx in transactions):
                return root
        return _root_and_nodes(transactions)[0]

    def validate_block(self, block: BlockAPI) -> None:
        """``VM.validate_block`` (and Cancun's blob checks), with the one-pass transaction root.

        Mirrors py-evm 0.12.1b1's ``VM.validate_block`` check for check.
        """
        if not isinstance(block, self.get_block_class()):
            raise ValidationError(f"This vm ({self!r}) is not equipped to validate a block of type {block!r}")
        if block.is_genesis:
            validate_length_lte(
                block.header.extra_data,
                self.extra_data_max_bytes,
                title="BlockHeader.extra_data",
            )
        else:
            parent_header = get_parent_header(block.header, self.chaindb)
            self.validate_header(block.header, parent_header)

        transaction_root = self._transaction_root(block.transactions)
        if transaction_root != block.header.transaction_root:
            raise ValidationError(
                f"Block's transaction_root ({block.header.transaction_root!r}) "
                f"does not match expected value: {transaction_root!r}"
            )
        if len(block.uncles) > MAX_UNCLES:
            raise ValidationError(f"Blocks may have a maximum of {MAX_UNCLES} uncles.  Found {len(block.uncles)}.")
        if not self.chaindb.exists(block.header.state_root):
            if not self.state.make_state_root() == block.header.state_root:
                raise ValidationError(
                    f"`state_root` does not match or was not found in the db.\n"
                    f"- state_root: {block.header.state_root!r}"
                )
        uncles_hash = keccak(rlp.encode(block.uncles))
        if uncles_hash != block.header.uncles_hash:
            raise ValidationError(
                f"`uncles_hash` and block `uncles` do not match: {uncles_hash!r} != {block.header.uncles_hash!r}"
            )
        self.validate_block_blobs(block)  # type: ignore[attr-defined]  # Cancun VM's
