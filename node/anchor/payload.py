"""The OP_RETURN payload that anchors one Settle block hash in Bitcoin.

Byte layout (57 bytes, big-endian integers; docs/anchoring.md):

====== ==== ==========================================================
offset size field
====== ==== ==========================================================
0      4    tag ``b"STLA"``
4      1    format version, 1
5      8    chain id
13     4    first 4 bytes of the genesis id (tells apart two chains with one chain id)
17     8    checkpoint height
25     32   block hash at that height (keccak of the header)
====== ==== ==========================================================

The block hash commits to every block before it through the parent-hash
chain, so one anchor covers all earlier history.
"""
from __future__ import annotations

from dataclasses import dataclass

TAG = b"STLA"
VERSION = 1
SIZE = 57
MAX_OP_RETURN_DATA = 80
"""Bitcoin Core's standard data-carrier limit before v30 is 83 bytes of script, i.e. 80 bytes of data."""
HASH_OFFSET = 25
"""Where the block hash starts in the payload."""


class PayloadError(ValueError):
    """Bytes that are not a Settle anchor payload; the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class AnchorPayload:
    chain_id: int
    genesis_prefix: bytes
    """First 4 bytes of the chain's genesis id."""
    height: int
    block_hash: bytes

    def encode(self) -> bytes:
        if len(self.genesis_prefix) != 4 or len(self.block_hash) != 32:
            raise PayloadError("genesis prefix must be 4 bytes and block hash 32")
        return (TAG + bytes([VERSION]) + self.chain_id.to_bytes(8, "big") + self.genesis_prefix
                + self.height.to_bytes(8, "big") + self.block_hash)

    @classmethod
    def decode(cls, data: bytes) -> AnchorPayload:
        if len(data) != SIZE:
            raise PayloadError(f"payload is {len(data)} bytes, expected {SIZE}")
        if data[:4] != TAG:
            raise PayloadError(f"tag is {data[:4].hex()}, expected {TAG.hex()}")
        if data[4] != VERSION:
            raise PayloadError(f"format version {data[4]}, expected {VERSION}")
        return cls(int.from_bytes(data[5:13], "big"), data[13:17], int.from_bytes(data[17:25], "big"), data[25:57])


assert SIZE <= MAX_OP_RETURN_DATA
