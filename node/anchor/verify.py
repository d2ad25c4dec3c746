"""Checking anchor records against a Bitcoin node and the local Settle chain (``settle anchor verify``).

For each record:

1. the recorded transaction hashes to the recorded txid (it is stored without witness data);
2. its OP_RETURN carries a Settle payload for this chain, at the record's height, and the
   block hash in it is the local chain's block hash at that height;
3. the merkle branch folds from the txid to the merkle root of the Bitcoin header whose
   double SHA-256 is the recorded block hash;
4. that block is on the node's best chain at the recorded height, with at least the
   required confirmations.

Any difference is a :class:`Mismatch` naming the height, what differs, what was
expected and what was found. A block between checkpoints is covered by the next
checkpoint's anchor through the parent-hash chain, which :func:`hash_chain_mismatches`
checks.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.anchor.bitcoin import BitcoinError, BitcoinRPC
from node.anchor.bitcoin_ops import find_payload
from node.anchor.bitcoin_tx import BitcoinParseError, BlockHeader, display, dsha256, fold_branch, parse_transaction
from node.anchor.registry import AnchorRecord


@dataclass(frozen=True, slots=True)
class Mismatch:
    height: int
    what: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"height {self.height}: {self.what}: expected {self.expected}, found {self.found}"


@dataclass(frozen=True, slots=True)
class Verified:
    height: int
    btc_txid: str
    btc_block_height: int
    confirmations: int


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def verify_record(record: AnchorRecord, local_hash: bytes | None, rpc: BitcoinRPC, *, confirmations: int,
                  chain_id: int | None = None) -> Verified | list[Mismatch]:
    """Check one record; a :class:`Verified` when it all holds, else every mismatch found."""
    height = record.height
    problems: list[Mismatch] = []
    if local_hash is None:
        problems.append(Mismatch(height, "local block", "a block at this height", "none (the local chain is shorter)"))
    txid = dsha256(record.raw_tx)
    if txid != record.btc_txid:
        problems.append(Mismatch(height, "bitcoin txid of the recorded transaction", display(record.btc_txid),
                                 display(txid)))
    try:
        found = find_payload(parse_transaction(record.raw_tx))
    except BitcoinParseError as exc:
        found = None
        problems.append(Mismatch(height, "recorded bitcoin transaction", "a valid transaction", str(exc)))
    if found is None:
        problems.append(Mismatch(height, "OP_RETURN payload", "a Settle anchor payload", "none"))
    else:
        payload = found[0]
        if payload.height != height:
            problems.append(Mismatch(height, "anchored height", str(height), str(payload.height)))
        if chain_id is not None and payload.chain_id != chain_id:
            problems.append(Mismatch(height, "anchored chain id", str(chain_id), str(payload.chain_id)))
        if payload.block_hash != record.block_hash:
            problems.append(Mismatch(height, "recorded block hash", _hex(payload.block_hash), _hex(record.block_hash)))
        if local_hash is not None and payload.block_hash != local_hash:
            problems.append(Mismatch(height, "block hash", _hex(payload.block_hash) + " (anchored in Bitcoin)",
                                     _hex(local_hash) + " (local chain)"))
    block = display(record.btc_block_hash)
    try:
        header = BlockHeader(bytes.fromhex(rpc.call("getblockheader", block, False)))
    except BitcoinError as exc:
        if exc.code != -5:
            raise
        problems.append(Mismatch(height, "bitcoin block", block, "not known to the bitcoin node"))
        return problems
    if header.hash != record.btc_block_hash:
        problems.append(Mismatch(height, "bitcoin header hash", block, display(header.hash)))
    root = fold_branch(record.btc_txid, record.tx_index, list(record.branch))
    if root != header.merkle_root:
        problems.append(Mismatch(height, "merkle root (branch folded from the txid)", display(header.merkle_root),
                                 display(root)))
    tip = int(rpc.call("getblockcount"))
    at_height = rpc.call("getblockhash", record.btc_block_height) if record.btc_block_height <= tip else None
    depth = tip - record.btc_block_height + 1
    if at_height != block:
        problems.append(Mismatch(height, f"bitcoin best-chain block at height {record.btc_block_height}", block,
                                 str(at_height)))
    elif depth < confirmations:
        problems.append(Mismatch(height, "bitcoin confirmations", f"at least {confirmations}", str(depth)))
    if problems:
        return problems
    return Verified(height, display(record.btc_txid), record.btc_block_height, depth)


def hash_chain_mismatches(start: int, checkpoint: int, block_hash: Callable[[int], bytes | None],
                          parent_hash: Callable[[int], bytes | None]) -> list[Mismatch]:
    """Each block from ``start + 1`` up to ``checkpoint`` names the one below it as its parent."""
    problems: list[Mismatch] = []
    for number in range(start + 1, checkpoint + 1):
        below, parent = block_hash(number - 1), parent_hash(number)
        if below is None or parent is None or below != parent:
            problems.append(Mismatch(number, "parent hash", _hex(below) if below else "a block",
                                     _hex(parent) if parent else "none"))
    return problems
