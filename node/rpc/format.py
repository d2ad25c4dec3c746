"""Rendering chain objects as the JSON geth returns for them."""
from __future__ import annotations

from typing import Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth_utils import to_checksum_address

from node.backend import LogEntry


def qty(value: int) -> str:
    return hex(value)


def hexb(value: bytes) -> str:
    return "0x" + value.hex()


def addr(value: bytes | None) -> str | None:
    return None if value is None or value == b"" else to_checksum_address(value)


def header_json(header: BlockHeaderAPI, size: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": qty(header.block_number),
        "hash": hexb(header.hash),
        "parentHash": hexb(header.parent_hash),
        "nonce": hexb(header.nonce),
        "mixHash": hexb(header.mix_hash),
        "sha3Uncles": hexb(header.uncles_hash),
        "logsBloom": hexb(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": hexb(header.transaction_root),
        "stateRoot": hexb(header.state_root),
        "receiptsRoot": hexb(header.receipt_root),
        "miner": addr(header.coinbase),
        "difficulty": qty(header.difficulty),
        "totalDifficulty": qty(0),
        "extraData": hexb(header.extra_data),
        "gasLimit": qty(header.gas_limit),
        "gasUsed": qty(header.gas_used),
        "timestamp": qty(header.timestamp),
        "baseFeePerGas": qty(header.base_fee_per_gas),  # type: ignore[arg-type]  # every Settle header is London+
    }
    for field, key in (
        ("withdrawals_root", "withdrawalsRoot"),
        ("blob_gas_used", "blobGasUsed"),
        ("excess_blob_gas", "excessBlobGas"),
        ("parent_beacon_block_root", "parentBeaconBlockRoot"),
        ("requests_hash", "requestsHash"),
    ):
        value = getattr(header, field, None)
        if value is not None:
            out[key] = qty(value) if isinstance(value, int) else hexb(value)
    if size is not None:
        out["size"] = qty(size)
    return out


def block_json(block: BlockAPI, full_transactions: bool) -> dict[str, Any]:
    out = header_json(block.header, size=len(rlp.encode(block)))
    if full_transactions:
        out["transactions"] = [
            transaction_json(tx, block.header, index) for index, tx in enumerate(block.transactions)
        ]
    else:
        out["transactions"] = [hexb(tx.hash) for tx in block.transactions]
    out["uncles"] = []
    out["withdrawals"] = []
    return out


def pending_block_json(parent: BlockHeaderAPI, timestamp: int, transactions: list[SignedTransactionAPI],
                       full_transactions: bool) -> dict[str, Any]:
    """The "pending" block as geth shows it: the next number, no hash, nonce or miner yet, the pool's transactions.

    The pool is not executed for this (a block is built only when it is
    proposed), so ``gasUsed`` counts the transactions' gas limits and the
    roots are the parent's.
    """
    out = header_json(parent)
    out.update({
        "number": qty(parent.block_number + 1),
        "hash": None,
        "parentHash": hexb(parent.hash),
        "nonce": None,
        "miner": None,
        "timestamp": qty(max(timestamp, parent.timestamp)),
        "gasUsed": qty(min(parent.gas_limit, sum(tx.gas for tx in transactions))),
        "logsBloom": hexb(bytes(256)),
    })
    if full_transactions:
        out["transactions"] = []
        for index, tx in enumerate(transactions):
            rendered = transaction_json(tx, None, None)
            rendered["blockNumber"] = qty(parent.block_number + 1)
            rendered["transactionIndex"] = qty(index)
            out["transactions"].append(rendered)
    else:
        out["transactions"] = [hexb(tx.hash) for tx in transactions]
    out["uncles"] = []
    out["withdrawals"] = []
    return out


def _type_id(transaction: SignedTransactionAPI) -> int:
    return getattr(transaction, "type_id", None) or 0


def transaction_json(
    transaction: SignedTransactionAPI,
    header: BlockHeaderAPI | None,
    index: int | None,
) -> dict[str, Any]:
    type_id = _type_id(transaction)
    out: dict[str, Any] = {
        "blockHash": hexb(header.hash) if header else None,
        "blockNumber": qty(header.block_number) if header else None,
        "transactionIndex": qty(index) if index is not None else None,
        "hash": hexb(transaction.hash),
        "type": qty(type_id),
        "from": addr(transaction.sender),
        "to": addr(transaction.to),
        "nonce": qty(transaction.nonce),
        "gas": qty(transaction.gas),
        "value": qty(transaction.value),
        "input": hexb(transaction.data),
        "r": qty(transaction.r),
        "s": qty(transaction.s),
    }
    if type_id == 0:
        out["gasPrice"] = qty(transaction.gas_price)
        out["v"] = qty(transaction.v)  # type: ignore[attr-defined]  # a legacy transaction (type 0)
        chain_id = getattr(transaction, "chain_id", None)
        if chain_id is not None:
            out["chainId"] = qty(chain_id)
    else:
        out["chainId"] = qty(transaction.chain_id)  # type: ignore[arg-type]  # typed transactions carry one
        out["v"] = qty(transaction.y_parity)
        out["yParity"] = qty(transaction.y_parity)
        out["accessList"] = [
            {"address": addr(a), "storageKeys": [hexb(k.to_bytes(32, "big")) for k in keys]}
            for a, keys in transaction.access_list
        ]
        if type_id >= 2:
            out["maxFeePerGas"] = qty(transaction.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = qty(transaction.max_priority_fee_per_gas)
            # Base fee is always 0, so the effective price of a mined one is the tip, capped by the fee
            # cap. A pending one has no effective price yet: geth reports the fee cap, and tools that
            # resubmit it (replacement) compare the two.
            if header is None:
                out["gasPrice"] = qty(transaction.max_fee_per_gas)
            else:
                out["gasPrice"] = qty(min(transaction.max_fee_per_gas, transaction.max_priority_fee_per_gas))
        else:
            out["gasPrice"] = qty(transaction.gas_price)
        if type_id == 4:
            out["authorizationList"] = [
                {
                    "chainId": qty(auth.chain_id),
                    "address": addr(auth.address),
                    "nonce": qty(auth.nonce),
                    "yParity": qty(auth.y_parity),
                    "r": qty(auth.r),
                    "s": qty(auth.s),
                }
                for auth in getattr(transaction, "authorization_list", ())
            ]
    return out


def effective_gas_price(transaction: SignedTransactionAPI) -> int:
    return min(transaction.max_fee_per_gas, transaction.max_priority_fee_per_gas)


def log_json(entry: LogEntry, removed: bool = False) -> dict[str, Any]:
    return {
        "address": addr(entry.address),
        "topics": [hexb(t) for t in entry.topics],
        "data": hexb(entry.data),
        "blockNumber": qty(entry.block_number),
        "blockHash": hexb(entry.block_hash),
        "transactionHash": hexb(entry.transaction_hash),
        "transactionIndex": qty(entry.transaction_index),
        "logIndex": qty(entry.log_index),
        "removed": removed,
    }


def receipt_json(
    transaction: SignedTransactionAPI,
    receipt: ReceiptAPI,
    header: BlockHeaderAPI,
    index: int,
    previous_cumulative_gas: int,
    logs: list[LogEntry],
) -> dict[str, Any]:
    contract_address = None
    if not transaction.to:
        contract_address = addr(generate_contract_address(transaction.sender, transaction.nonce))
    return {
        "transactionHash": hexb(transaction.hash),
        "transactionIndex": qty(index),
        "blockHash": hexb(header.hash),
        "blockNumber": qty(header.block_number),
        "from": addr(transaction.sender),
        "to": addr(transaction.to),
        "cumulativeGasUsed": qty(receipt.gas_used),
        "gasUsed": qty(receipt.gas_used - previous_cumulative_gas),
        "effectiveGasPrice": qty(effective_gas_price(transaction)),
        "contractAddress": contract_address,
        "logs": [log_json(entry) for entry in logs],
        "logsBloom": hexb(receipt.bloom.to_bytes(256, "big")),
        "type": qty(_type_id(transaction)),
        "status": qty(0 if receipt.state_root == b"" else 1),
    }
