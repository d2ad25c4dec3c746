"""Re-executing a proposed block and checking every root.

A validator does not trust the proposer's header: it runs the block's
transactions on its own copy of the parent state, on the same fast path the
proposer used (:class:`vm.fork.SettleVM`), and accepts the block only if every
field it can recompute matches. This is what py-evm's ``Chain.import_block``
does; here each mismatch is reported by name, with both values, so consensus
can say why it refused to vote.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ChainAPI,
    ComputationAPI,
    ReceiptAPI,
    SignedTransactionAPI,
)
from eth.vm.base import VM
from eth_utils import ValidationError

from vm.fast_path import DeferredHeader, persist_executed_block
from vm.native import keccak_256
from vm.senders import prefill_senders

#: Header fields recomputed by execution, checked one by one before the hash.
CHECKED_FIELDS = (
    "state_root",
    "transaction_root",
    "receipt_root",
    "bloom",
    "gas_used",
    "blob_gas_used",
    "withdrawals_root",
    "requests_hash",
)


class BlockRejected(Exception):
    """A proposed block that does not re-execute to itself."""

    def __init__(self, reason: str, *, field: str = "", expected: object = None, actual: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        """The header field that differs, when one does."""
        self.expected = expected
        """The value execution produced."""
        self.actual = actual
        """The value the proposed block carries."""


def reuse_known_senders(
    transactions: Iterable[SignedTransactionAPI],
    known: Callable[[bytes], SignedTransactionAPI | None],
) -> int:
    """Give each transaction the sender already recovered from a transaction with the same hash.

    A validator has usually seen a proposal's transactions before, through
    gossip into its mempool, where admission recovered each sender (an ECDSA
    recovery plus re-encoding the unsigned transaction: about a tenth of an
    ERC-20 transfer's execution). A block decoded from the wire carries fresh
    objects, and py-evm would recover every sender again. The hash is the
    keccak of the full signed encoding, so the same hash means the same bytes
    and the same sender. Only senders already recovered are taken (py-evm
    caches them on the object); nothing else is skipped: every other
    validation runs as before. Returns how many were reused.
    """
    reused = 0
    for transaction in transactions:
        seen = known(transaction.hash)
        if seen is not None and seen is not transaction and "sender" in vars(seen):
            vars(transaction)["sender"] = vars(seen)["sender"]  # py-evm's cached_property slot
            reused += 1
    return reused


def decode_block_reusing(
    raw: bytes,
    block_class: type[BlockAPI],
    known: Callable[[bytes], SignedTransactionAPI | None],
) -> BlockAPI:
    """Decode an RLP block, taking each transaction already held (``known(hash)``) instead of decoding it again.

    A validator has usually admitted a proposal's transactions through gossip:
    decoded, sender recovered and checked. Decoding the block's copy again
    builds fresh objects (a tenth to a quarter of re-executing an ERC-20
    transfer) and loses the sender. Here the block's list is split first
    (pyrlp without sedes: bytes and lists only); each transaction's hash is the
    keccak of its own encoding (a typed transaction's bytes, a legacy one's
    list re-encoded), and a transaction found under that hash is used as is,
    sender included. Equal hashes mean equal bytes, so the block is the same
    block; a transaction not found is decoded by the block's own sedes and its
    sender recovered (and checked) at execution as before. Any other field, and
    a block of unexpected shape, goes through the block class's sedes, which
    raise the same errors as ``rlp.decode(raw, sedes=block_class)``.
    """
    items = rlp.decode(raw)
    fields = block_class._meta.fields  # type: ignore[attr-defined]  # rlp.Serializable's field table
    if not isinstance(items, list) or len(items) != len(fields):
        return rlp.decode(raw, sedes=block_class)
    values: dict[str, Any] = {}
    for (name, sedes), item in zip(fields, items, strict=True):
        if name == "transactions" and isinstance(item, list):
            element = sedes.element_sedes
            transactions = []
            for entry in item:
                encoded = entry if isinstance(entry, bytes) else rlp.encode(entry)
                held = known(keccak_256(encoded).digest())
                transactions.append(held if held is not None else element.deserialize(entry))
            values[name] = tuple(transactions)
        else:
            values[name] = sedes.deserialize(item)
    return block_class(**values)


@dataclass(frozen=True, slots=True)
class ExecutedBlock:
    block: BlockAPI
    """The block as re-executed: equal to the proposed one, hash included."""
    receipts: tuple[ReceiptAPI, ...]
    """One receipt per transaction, in block order."""
    computations: tuple[ComputationAPI, ...]
    """The EVM computations, for revert data and traces."""


def execute_block(chain: ChainAPI, parent_header: BlockHeaderAPI, block: BlockAPI) -> ExecutedBlock:
    """Re-execute ``block`` on top of ``parent_header``, check it, and persist it.

    Raises :class:`BlockRejected` if the block does not extend ``parent_header``,
    has an invalid transaction or header field, or any recomputed root, bloom
    or gas figure differs from its header. Writes go to ``chain``'s database;
    give it a write overlay and drop the overlay on rejection.
    """
    header = block.header
    if header.parent_hash != parent_header.hash or header.block_number != parent_header.block_number + 1:
        raise BlockRejected(
            f"block #{header.block_number} (parent {header.parent_hash.hex()}) does not extend "
            f"#{parent_header.block_number} ({parent_header.hash.hex()})",
            field="parent_hash", expected=parent_header.hash, actual=header.parent_hash,
        )
    if block.uncles:
        raise BlockRejected(f"block carries {len(block.uncles)} ommers; post-merge blocks have none",
                            field="uncles", expected=(), actual=block.uncles)
    template = chain.create_header_from_parent(
        parent_header,
        timestamp=header.timestamp,
        coinbase=header.coinbase,
        extra_data=header.extra_data,
        gas_limit=header.gas_limit,
        mix_hash=header.mix_hash,
        parent_beacon_block_root=header.parent_beacon_block_root,
    )
    vm = cast(VM, chain.get_vm(template))
    vm.block_preprocessing(vm.get_block())

    # A duck-typed BlockHeaderAPI: py-evm's per-transaction calls only read fields and copy.
    running: Any = DeferredHeader(vm.get_header().copy(gas_used=0))
    receipts: list[ReceiptAPI] = []
    computations: list[ComputationAPI] = []
    prefill_senders(block.transactions)
    for index, transaction in enumerate(block.transactions):
        try:
            receipt, computation = vm.apply_transaction(running, transaction)
        except ValidationError as exc:
            raise BlockRejected(f"transaction {index} ({transaction.hash.hex()}) is invalid: {exc}") from exc
        running = vm.add_receipt_to_header(running, receipt)
        running = vm.increment_blob_gas_used(running, transaction)
        receipts.append(receipt)
        computations.append(computation)

    withdrawals = getattr(block, "withdrawals", None) or ()
    if withdrawals:
        vm.apply_all_withdrawals(withdrawals)
    filled = vm.set_block_transactions_and_withdrawals(
        vm.get_block(), running.resolve(), block.transactions, receipts, withdrawals=withdrawals
    )
    try:
        processed = vm.block_postprocessing(filled)
        executed = vm.mine_block(processed).block
    except ValidationError as exc:
        raise BlockRejected(f"block #{header.block_number} is invalid: {exc}") from exc

    for field in CHECKED_FIELDS:
        expected = getattr(executed.header, field, None)
        actual = getattr(header, field, None)
        if expected != actual:
            raise BlockRejected(
                f"block #{header.block_number} {field} differs from its re-execution: "
                f"{_shown(actual)} in the block, {_shown(expected)} executed",
                field=field, expected=expected, actual=actual,
            )
    if executed.hash != block.hash:
        raise BlockRejected(
            f"block #{header.block_number} hash differs from its re-execution: "
            f"0x{block.hash.hex()} in the block, 0x{executed.hash.hex()} executed",
            field="hash", expected=executed.hash, actual=block.hash,
        )
    persist_executed_block(chain, executed)
    return ExecutedBlock(block=executed, receipts=tuple(receipts), computations=tuple(computations))


def _shown(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)
