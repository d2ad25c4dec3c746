"""What anchoring asks of a Bitcoin node: send an OP_RETURN, find anchors, prove inclusion.

All synchronous, over :class:`~node.anchor.bitcoin.BitcoinRPC`; the service runs
them in a worker thread. Nothing here trusts the node's answers where it can
check them: txids are recomputed from the transaction bytes, and merkle branches
are folded against the raw 80-byte header whose hash is the block hash.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.anchor.bitcoin import BitcoinCallError, BitcoinError, BitcoinRPC
from node.anchor.bitcoin_tx import (
    BitcoinParseError,
    BlockHeader,
    ParsedTransaction,
    display,
    fold_branch,
    internal,
    merkle_branch,
    op_return_data,
    parse_transaction,
)
from node.anchor.payload import HASH_OFFSET, AnchorPayload, PayloadError

NETWORK_CHAINS = {"mainnet": "main", "testnet": "test", "signet": "signet", "regtest": "regtest"}
"""``anchor.network`` -> the ``chain`` that ``getblockchaininfo`` reports."""


class AnchorTxError(BitcoinError):
    """The node built or signed an anchor transaction we cannot use."""


@dataclass(frozen=True, slots=True)
class FoundAnchor:
    """A Settle anchor seen in a Bitcoin transaction."""

    payload: AnchorPayload
    txid: bytes
    stripped: bytes
    """The transaction without witness data."""
    hash_offset: int
    """Where the Settle block hash starts in ``stripped``."""


def find_payload(parsed: ParsedTransaction) -> tuple[AnchorPayload, int] | None:
    """The Settle payload in a transaction's OP_RETURN outputs, and the block hash's offset in the stripped bytes."""
    for output in parsed.outputs:
        pushed = op_return_data(output.script)
        if pushed is None:
            continue
        data, start = pushed
        try:
            payload = AnchorPayload.decode(data)
        except PayloadError:
            continue
        return payload, output.script_offset + start + HASH_OFFSET
    return None


def anchor_in(raw: bytes) -> FoundAnchor | None:
    try:
        parsed = parse_transaction(raw)
    except BitcoinParseError:
        return None
    found = find_payload(parsed)
    if found is None:
        return None
    return FoundAnchor(found[0], parsed.txid, parsed.stripped, found[1])


def check_network(rpc: BitcoinRPC, network: str) -> dict[str, Any]:
    """``getblockchaininfo``, refusing a node on another network than configured (anchoring to regtest by mistake)."""
    info = rpc.call("getblockchaininfo")
    expected = NETWORK_CHAINS[network]
    if info.get("chain") != expected:
        raise BitcoinError(f"bitcoin node at {rpc.url} is on chain {info.get('chain')!r}, but anchor.network is "
                           f"{network!r} ({expected!r})")
    return info


def create_anchor_transaction(rpc: BitcoinRPC, payload: bytes, fee_rate: float) -> bytes:
    """A signed transaction with one OP_RETURN output carrying ``payload``, paid by the wallet; not broadcast.

    ``fundrawtransaction`` adds inputs and a change output (at a random index) and
    does not lock the coins, so a crash before sending leaves nothing behind.
    """
    unfunded = rpc.call("createrawtransaction", [], [{"data": payload.hex()}])
    funded = rpc.call("fundrawtransaction", unfunded, {"fee_rate": fee_rate}, wallet=True)
    signed = rpc.call("signrawtransactionwithwallet", funded["hex"], wallet=True)
    if not signed.get("complete"):
        raise AnchorTxError(f"wallet {rpc.wallet!r} could not sign the anchor transaction: {signed.get('errors')}")
    raw = bytes.fromhex(signed["hex"])
    found = anchor_in(raw)
    if found is None or found.payload.encode() != payload:
        raise AnchorTxError("the signed anchor transaction does not carry the payload")
    return raw


def broadcast(rpc: BitcoinRPC, raw: bytes) -> bool:
    """Send ``raw``; True if the node took it or already had it, False if it conflicts or its inputs are gone."""
    try:
        rpc.call("sendrawtransaction", raw.hex())
        return True
    except BitcoinCallError as exc:
        text = str(exc)
        if "already" in text or exc.code == -27:  # in the mempool or in the chain already
            return True
        if exc.code in (-25, -26) or "missing" in text or "conflict" in text:
            return False
        raise


def block_anchors(rpc: BitcoinRPC, block_hash: str) -> tuple[dict[str, Any], list[FoundAnchor]]:
    """A block (``getblock`` verbosity 2) and the Settle anchors in it."""
    block = rpc.call("getblock", block_hash, 2)
    found: list[FoundAnchor] = []
    for tx in block["tx"]:
        if not any(out.get("scriptPubKey", {}).get("hex", "").startswith("6a") for out in tx.get("vout", [])):
            continue
        anchor = anchor_in(bytes.fromhex(tx["hex"]))
        if anchor is not None:
            found.append(anchor)
    return block, found


@dataclass(frozen=True, slots=True)
class Inclusion:
    """Where a transaction sits in a Bitcoin block, checked against the header."""

    block_hash: bytes
    height: int
    tx_index: int
    branch: tuple[bytes, ...]
    confirmations: int


def inclusion(rpc: BitcoinRPC, block_hash: bytes, txid: bytes) -> Inclusion:
    """The merkle branch of ``txid`` in block ``block_hash``, folded against that block's raw header."""
    block = rpc.call("getblock", display(block_hash), 1)
    txids = [internal(t) for t in block["tx"]]
    if txid not in txids:
        raise BitcoinError(f"transaction {display(txid)} is not in block {display(block_hash)}")
    index = txids.index(txid)
    branch = merkle_branch(txids, index)
    header = BlockHeader(bytes.fromhex(rpc.call("getblockheader", display(block_hash), False)))
    if header.hash != block_hash or fold_branch(txid, index, branch) != header.merkle_root:
        raise BitcoinError(f"block {display(block_hash)}: its transactions do not fold to its header's merkle root")
    return Inclusion(block_hash, int(block["height"]), index, tuple(branch), int(block["confirmations"]))
