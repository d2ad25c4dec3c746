"""Receipts with their bloom computed from a cache of per-value bloom masks.

Every receipt's 2048-bit bloom is the OR, over its logs' addresses and
topics, of three bits taken from each value's keccak (Yellow Paper §4.3.1).
py-evm builds it value by value through ``eth_bloom`` (a keccak and three
generator steps each), and ``validate_receipt`` then tests every value
against it the same way. In a block of token transfers the same few values
(the token's address, the ``Transfer`` topic, the active accounts) recur in
almost every receipt, so each value's three-bit mask is computed once and
kept in a bounded cache.

:func:`make_receipt` builds exactly the receipt py-evm's
``transaction.make_receipt`` builds (the same ``Receipt`` and ``Log``
objects, wrapped in the transaction's own typed-receipt class), only passing
the bloom in. It does so only for the transaction classes whose
``make_receipt`` is one of py-evm 0.12.1b1's known functions (checked by
identity); anything else goes to py-evm.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth.abc import ReceiptAPI, SignedTransactionAPI
from eth.rlp.logs import Log
from eth.rlp.receipts import Receipt
from eth.vm.forks.berlin.transactions import AccessListTransaction, TypedTransaction
from eth.vm.forks.cancun.transactions import BlobTransaction
from eth.vm.forks.frontier.transactions import FrontierTransaction
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.forks.prague.transactions import SetCodeTransaction
from eth_hash.auto import keccak
from eth_utils import ValidationError

from vm.encoding import instance_of, new_serializable

#: py-evm's ``make_receipt`` functions that build ``Receipt(status, gas_used, [Log(...)])`` and nothing else.
PLAIN_RECEIPT_MAKERS: frozenset[Callable[..., Any]] = frozenset({
    FrontierTransaction.make_receipt,
    AccessListTransaction.make_receipt,
    DynamicFeeTransaction.make_receipt,
    BlobTransaction.make_receipt,
    SetCodeTransaction.make_receipt,
})
_MASK_CACHE_LIMIT = 65_536
_masks: dict[bytes, int] = {}


def bloom_mask(value: bytes) -> int:
    """The three bloom bits of ``value``, as ``eth_bloom.BloomFilter`` sets them."""
    mask = _masks.get(value)
    if mask is None:
        digest = keccak(value)
        mask = (
            (1 << (((digest[0] << 8) | digest[1]) & 2047))
            | (1 << (((digest[2] << 8) | digest[3]) & 2047))
            | (1 << (((digest[4] << 8) | digest[5]) & 2047))
        )
        if len(_masks) >= _MASK_CACHE_LIMIT:
            _masks.clear()
        _masks[value] = mask
    return mask


def logs_bloom(logs: Any) -> int:
    """The bloom of a receipt's logs: each address and each topic as 32 bytes."""
    bloom = 0
    for log in logs:
        bloom |= bloom_mask(log.address)
        for topic in log.topics:
            bloom |= bloom_mask(topic.to_bytes(32, "big"))
    return bloom


def make_receipt(transaction: SignedTransactionAPI, status: bytes, gas_used: int,
                 log_entries: Any) -> ReceiptAPI:
    """``transaction.make_receipt(status, gas_used, log_entries)``, with the bloom from :func:`bloom_mask`."""
    global _last_made
    typed = (
        instance_of(transaction, TypedTransaction) and type(transaction).make_receipt is TypedTransaction.make_receipt
    )
    builder = transaction._inner if typed else transaction  # type: ignore[attr-defined]  # typed: checked above
    if type(builder).make_receipt not in PLAIN_RECEIPT_MAKERS:
        return transaction.make_receipt(status, gas_used, log_entries)
    logs = tuple(
        [
            new_serializable(Log, address, topics, data) if type(topics) is tuple else Log(address, topics, data)
            for address, topics, data in log_entries
        ]
    )
    receipt = _plain_receipt(status, gas_used, logs_bloom(logs), logs)
    if typed:
        receipt = transaction.receipt_builder.typed_receipt_class(transaction.type_id, receipt)  # type: ignore[attr-defined]  # typed
    _last_made = receipt
    return receipt


#: The receipt :func:`make_receipt` built last (py-evm's receipts are immutable rlp objects).
_last_made: ReceiptAPI | None = None


def is_bloom_of_own_logs(receipt: ReceiptAPI) -> bool:
    """Whether ``receipt`` is the one :func:`make_receipt` built last: its bloom is then its logs' by construction.

    ``VM.apply_transaction`` validates each receipt right after making it, so
    this spares :func:`validate_receipt_bloom` a check that cannot fail. Any
    other receipt, or this one once another was made, is checked in full.
    """
    return receipt is _last_made


def _plain_receipt(state_root: bytes, gas_used: int, bloom: int, logs: tuple[Log, ...]) -> Receipt:
    """``Receipt(state_root, gas_used, logs, bloom)`` with the bloom given: the same object, fewer steps.

    py-evm's ``Receipt.__init__`` only fills in a missing bloom and passes the
    fields on by keyword, which ``rlp.Serializable`` then matches to field
    names. Here they go to ``Serializable.__init__`` in field order, the logs
    already a tuple (the immutable form ``Serializable`` would make of a list).
    """
    return new_serializable(Receipt, state_root, gas_used, bloom, logs)


def validate_receipt_bloom(receipt: ReceiptAPI) -> None:
    """py-evm's ``VM.validate_receipt`` check, value for value, against the cached masks."""
    bloom = receipt.bloom
    for log_index, log in enumerate(receipt.logs):
        mask = bloom_mask(log.address)
        if bloom & mask != mask:
            raise ValidationError(
                f"The address from the log entry at position {log_index} is not present in the provided bloom filter."
            )
    for log_index, log in enumerate(receipt.logs):
        for topic_index, topic in enumerate(log.topics):
            mask = bloom_mask(topic.to_bytes(32, "big"))
            if bloom & mask != mask:
                raise ValidationError(
                    f"The topic at position {topic_index} from the log entry at "
                    f"position {log_index} is not present in the provided bloom filter."
                )
