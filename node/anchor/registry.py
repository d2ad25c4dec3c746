"""The anchor-registry system contract seen from Python: ABI encoding, and reading records.

The contract (``contracts/src/anchor/AnchorRegistry.sol``) lives at the genesis
address ``genesis.anchor.registry_address``; see genesis/system.py.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from node.anchor.bitcoin_tx import display

RECORD_SIGNATURE = "record(uint64,bytes32,bytes32,bytes32,uint64,uint32,bytes32[],bytes)"
_RECORD = function_signature_to_4byte_selector(RECORD_SIGNATURE)
_COUNT = function_signature_to_4byte_selector("count()")
_HEIGHTS_FROM = function_signature_to_4byte_selector("heightsFrom(uint256,uint256)")
_GET = function_signature_to_4byte_selector("get(uint64)")
_ANCHOR_TUPLE = "(uint64,bytes32,bytes32,bytes32,uint64,uint32,bytes32[],bytes,address)"
PAGE = 256
"""Heights read per call when listing records."""


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    """One checkpoint's anchor as recorded on Settle. Bitcoin hashes are in internal byte order."""

    height: int
    block_hash: bytes
    btc_txid: bytes
    btc_block_hash: bytes
    btc_block_height: int
    tx_index: int
    branch: tuple[bytes, ...]
    raw_tx: bytes
    """The anchor transaction serialised without witness data."""
    recorder: bytes = b"\x00" * 20

    def to_json(self) -> dict[str, Any]:
        """The JSON form served by ``anchor_getAnchors``: Bitcoin hashes as RPC shows them (reversed hex)."""
        return {
            "height": self.height,
            "blockHash": "0x" + self.block_hash.hex(),
            "btcTxid": display(self.btc_txid),
            "btcBlockHash": display(self.btc_block_hash),
            "btcBlockHeight": self.btc_block_height,
            "txIndex": self.tx_index,
            "merkleBranch": [display(h) for h in self.branch],
            "rawTx": self.raw_tx.hex(),
            "recorder": "0x" + self.recorder.hex(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> AnchorRecord:
        """Inverse of :meth:`to_json`; raises KeyError/ValueError/TypeError on a malformed object."""
        def rev(text: str) -> bytes:
            value = bytes.fromhex(text)[::-1]
            if len(value) != 32:
                raise ValueError(f"expected a 32-byte hash, got {text!r}")
            return value

        block_hash = bytes.fromhex(obj["blockHash"].removeprefix("0x"))
        if len(block_hash) != 32:
            raise ValueError("blockHash must be 32 bytes")
        return cls(
            height=int(obj["height"]), block_hash=block_hash, btc_txid=rev(obj["btcTxid"]),
            btc_block_hash=rev(obj["btcBlockHash"]), btc_block_height=int(obj["btcBlockHeight"]),
            tx_index=int(obj["txIndex"]), branch=tuple(rev(h) for h in obj["merkleBranch"]),
            raw_tx=bytes.fromhex(obj["rawTx"]),
            recorder=bytes.fromhex(obj.get("recorder", "0x" + "00" * 20).removeprefix("0x")),
        )


def encode_record(record: AnchorRecord) -> bytes:
    """Calldata of ``record(...)``."""
    return _RECORD + encode(
        ["uint64", "bytes32", "bytes32", "bytes32", "uint64", "uint32", "bytes32[]", "bytes"],
        [record.height, record.block_hash, record.btc_txid, record.btc_block_hash, record.btc_block_height,
         record.tx_index, list(record.branch), record.raw_tx],
    )


Call = Callable[[bytes], bytes]
"""Runs ``eth_call`` of calldata against the registry and returns the output."""


def recorded_count(call: Call) -> int:
    (count,) = decode(["uint256"], call(_COUNT))
    return int(count)


def recorded_heights(call: Call, start: int = 0) -> list[int]:
    """Checkpoint heights recorded, in recording order, from position ``start``."""
    heights: list[int] = []
    while True:
        (page,) = decode(["uint64[]"], call(_HEIGHTS_FROM + encode(["uint256", "uint256"], [start, PAGE])))
        heights.extend(int(h) for h in page)
        if len(page) < PAGE:
            return heights
        start += PAGE


def read_record(call: Call, height: int) -> AnchorRecord | None:
    (fields,) = decode([_ANCHOR_TUPLE], call(_GET + encode(["uint64"], [height])))
    if fields[0] == 0:
        return None
    return AnchorRecord(
        height=int(fields[0]), block_hash=bytes(fields[1]), btc_txid=bytes(fields[2]),
        btc_block_hash=bytes(fields[3]), btc_block_height=int(fields[4]), tx_index=int(fields[5]),
        branch=tuple(bytes(b) for b in fields[6]), raw_tx=bytes(fields[7]),
        recorder=bytes.fromhex(fields[8].removeprefix("0x")),
    )


def checkpoint_covering(heights: list[int], block: int) -> int | None:
    """The lowest recorded checkpoint at or above ``block``: its anchor covers ``block`` through the hash chain."""
    ordered = sorted(heights)
    position = bisect_left(ordered, block)
    return ordered[position] if position < len(ordered) else None
