"""Compact proposals: a PROPOSAL on the wire with transaction hashes in place of the transactions.

A proposer's block holds transactions every validator has, as a rule, already
received by gossip. Sending them again in the proposal multiplies the bytes
that the transport encrypts, frames and copies by the number of validators.
A compact proposal carries the signed message with the block's bytes cut out,
the block's other fields (header, ommers, withdrawals) and one 32-byte hash
per transaction. The receiver fills the transactions in from its mempool (and
fetches the few it lacks from the peer that sent the proposal), and gets back
the exact bytes the proposer signed.

Nothing here is trusted: the rebuilt transactions' trie root must equal the
header's ``transaction_root`` before anything else happens (a forged or
reordered hash list is refused here, with a clear reason), and the rebuilt
message then goes through the ordinary decoding, whose signature covers the
whole block. A transaction's hash is the keccak of its own encoding, so a
transaction found under a hash is byte for byte the one the proposer had.

The proposer carries in full the transactions its own clients submitted in
the last :data:`LOCAL_FULL_SECONDS` (2 s): those are the ones its gossip may not have
delivered yet, and fetching them would cost the others a round trip.

Frame: ``COMPACT_PREFIX`` + RLP ``[before, after, [field, ...], transactions_index, [hash, ...], [transaction, ...]]``,
where the signed message is ``before + block + after``, the block is the
RLP list of its fields with the transactions (one list) at ``transactions_index``,
and the last list holds the transactions sent in full. The prefix byte cannot
start a full signed message (an RLP list, 0xc0 and up).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth.abc import BlockAPI, SignedTransactionAPI

from vm.encoding import encode_list
from vm.native import keccak_256
from vm.ordered_trie import ordered_trie_root_and_nodes

COMPACT_PREFIX = b"\x01"
"""First byte of a compact proposal frame on the consensus topic."""

LOCAL_FULL_SECONDS = 2.0
"""A proposer sends in full the transactions its own clients submitted this recently."""


class CompactBlockInvalid(ValueError):
    """A compact proposal that cannot be rebuilt into the block it names; the message says why."""


@dataclass(frozen=True, slots=True)
class CompactProposal:
    """A parsed compact frame (see the module docstring)."""

    before: bytes
    after: bytes
    fields: tuple[bytes, ...]
    """Encoded block fields other than the transactions, in block order."""
    transactions_index: int
    hashes: tuple[bytes, ...]
    """The block's transaction hashes, in block order."""
    included: dict[bytes, bytes]
    """Transactions sent in full, by their hash (the proposer's freshest local ones)."""


def transaction_bytes(transaction: SignedTransactionAPI) -> bytes:
    """A transaction's own encoding (what its hash and the trie take): type byte and payload, or legacy RLP."""
    if transaction.type_id is None:
        return rlp.encode(transaction)
    return transaction.encode()


def compact(raw_message: bytes, block_bytes: bytes, block: BlockAPI, full: Collection[bytes] = ()) -> bytes | None:
    """The compact frame of the signed PROPOSAL ``raw_message`` of ``block`` (encoded as ``block_bytes``).

    Transactions whose hash is in ``full`` travel in full. None when the
    block's bytes are not found in the message or the block re-encodes to
    other bytes: the full message is sent then.
    """
    start = raw_message.find(block_bytes)
    if start < 0:
        return None
    fields = type(block)._meta.fields  # type: ignore[attr-defined]  # rlp.Serializable's field table
    names = [name for name, _ in fields]
    if "transactions" not in names:
        return None
    index = names.index("transactions")
    encoded = [rlp.encode(getattr(block, name), sedes=sedes) for name, sedes in fields if name != "transactions"]
    hashes = [transaction.hash for transaction in block.transactions]
    raws = [transaction_bytes(transaction) for transaction in block.transactions]
    if _block_bytes(encoded, index, [_item(raw) for raw in raws]) != block_bytes:
        return None
    included = [raw for tx_hash, raw in zip(hashes, raws, strict=True) if tx_hash in full]
    return COMPACT_PREFIX + rlp.encode([
        raw_message[:start], raw_message[start + len(block_bytes):], encoded, index, hashes, included,
    ])


def parse(frame: bytes) -> CompactProposal:
    """Parse a compact frame; raises :class:`CompactBlockInvalid` on anything malformed."""
    if not frame.startswith(COMPACT_PREFIX):
        raise CompactBlockInvalid("not a compact proposal")
    try:
        items = rlp.decode(frame[len(COMPACT_PREFIX):])
    except (rlp.DecodingError, RecursionError) as exc:
        raise CompactBlockInvalid(f"compact proposal could not be decoded: {exc}") from None
    if not (isinstance(items, list) and len(items) == 6 and isinstance(items[0], bytes)
            and isinstance(items[1], bytes) and isinstance(items[2], list) and isinstance(items[3], bytes)
            and isinstance(items[4], list) and isinstance(items[5], list)):
        raise CompactBlockInvalid(
            "compact proposal must be [before, after, [field, ...], index, [hash, ...], [transaction, ...]]")
    fields, hashes, included = items[2], items[4], items[5]
    if not all(isinstance(raw, bytes) and raw for raw in included):
        raise CompactBlockInvalid("compact proposal transactions must be non-empty byte strings")
    if not all(isinstance(field, bytes) for field in fields):
        raise CompactBlockInvalid("compact proposal block fields must be byte strings")
    if not all(isinstance(tx_hash, bytes) and len(tx_hash) == 32 for tx_hash in hashes):
        raise CompactBlockInvalid("compact proposal transaction hashes must be 32 bytes each")
    index = int.from_bytes(items[3], "big")
    if index > len(fields):
        raise CompactBlockInvalid(f"transactions index {index} past the {len(fields)} block fields")
    return CompactProposal(items[0], items[1], tuple(fields), index, tuple(hashes),
                           {keccak_256(raw).digest(): raw for raw in included})


def missing(proposal: CompactProposal, known: Callable[[bytes], Any]) -> list[bytes]:
    """The hashes of ``proposal`` neither sent in full nor held by ``known`` (hash -> transaction or None), once."""
    return list(dict.fromkeys(
        tx_hash for tx_hash in proposal.hashes if tx_hash not in proposal.included and known(tx_hash) is None
    ))


def rebuild(
    proposal: CompactProposal,
    transactions: Callable[[bytes], bytes | None],
    block_class: type[BlockAPI],
    max_bytes: int,
) -> bytes:
    """The signed message ``proposal`` stands for, from ``transactions`` (hash -> :func:`transaction_bytes`).

    Raises :class:`CompactBlockInvalid` when the frame does not fit
    ``block_class``'s fields, when a transaction is unavailable or does not
    hash to its hash, when the message would exceed ``max_bytes`` (the
    consensus message limit), or when the rebuilt transactions' trie root
    differs from the header's ``transaction_root`` (checked before anything
    else reads the block).
    """
    fields = block_class._meta.fields  # type: ignore[attr-defined]  # rlp.Serializable's field table
    names = [name for name, _ in fields]
    if (names[:1] != ["header"] or "transactions" not in names
            or proposal.transactions_index != names.index("transactions")
            or len(proposal.fields) != len(names) - 1):
        raise CompactBlockInvalid(f"compact proposal fields do not fit a block of {names}")
    size = len(proposal.before) + len(proposal.after) + sum(len(field) for field in proposal.fields)
    raws = []
    for tx_hash in proposal.hashes:
        raw = proposal.included.get(tx_hash) or transactions(tx_hash)
        if raw is None:
            raise CompactBlockInvalid(f"transaction 0x{tx_hash.hex()} of the proposal is unavailable")
        if keccak_256(raw).digest() != tx_hash:
            raise CompactBlockInvalid(f"transaction given for 0x{tx_hash.hex()} hashes otherwise")
        size += len(raw)
        if size > max_bytes:
            raise CompactBlockInvalid(f"rebuilt proposal exceeds {max_bytes} bytes")
        raws.append(raw)
    try:
        header = rlp.decode(proposal.fields[0], sedes=dict(fields)["header"])
    except (rlp.DecodingError, rlp.DeserializationError, RecursionError, ValueError, TypeError) as exc:
        raise CompactBlockInvalid(f"compact proposal header could not be decoded: {exc}") from None
    root, _ = ordered_trie_root_and_nodes(raws)
    if root != header.transaction_root:
        raise CompactBlockInvalid(
            f"rebuilt transactions root 0x{root.hex()} differs from the header's 0x{header.transaction_root.hex()} "
            "(a forged or reordered hash list)"
        )
    block_bytes = _block_bytes(list(proposal.fields), proposal.transactions_index, [_item(raw) for raw in raws])
    return proposal.before + block_bytes + proposal.after


def _item(raw: bytes) -> bytes:
    """A transaction as an element of the block's list: a legacy RLP list as is, a typed one as an RLP string."""
    return raw if raw[:1] >= b"\xc0" else rlp.encode(raw)


def _block_bytes(fields: Sequence[bytes], index: int, items: list[bytes]) -> bytes:
    encoded = list(fields)
    encoded.insert(index, encode_list(items))
    return encode_list(encoded)
