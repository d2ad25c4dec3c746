"""Bitcoin transactions, block headers and merkle branches: just the parsing the anchors need.

The txid is the double SHA-256 of the transaction serialised *without* the
segwit marker, flag and witnesses; merkle branches fold to the header's merkle
root with double SHA-256, an odd last node paired with itself. Hashes here are
in internal byte order (as hashed); RPC shows them reversed (:func:`display`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass


class BitcoinParseError(ValueError):
    """Malformed transaction, header or script bytes; the message says where."""


def dsha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def display(hash_: bytes) -> str:
    """Internal byte order to the hex that RPC and explorers show."""
    return hash_[::-1].hex()


def internal(hex_hash: str) -> bytes:
    """RPC hex to internal byte order."""
    return bytes.fromhex(hex_hash)[::-1]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BitcoinParseError(f"truncated at byte {self.pos} (wanted {n} more of {len(self.data)})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def varint(self) -> int:
        first = self.take(1)[0]
        if first < 0xfd:
            return first
        return int.from_bytes(self.take({0xfd: 2, 0xfe: 4, 0xff: 8}[first]), "little")


@dataclass(frozen=True, slots=True)
class TxOutput:
    value: int
    script: bytes
    script_offset: int
    """Where ``script`` starts in the non-witness serialisation."""


@dataclass(frozen=True, slots=True)
class ParsedTransaction:
    stripped: bytes
    """The serialisation without witness data: its double SHA-256 is the txid."""
    outputs: tuple[TxOutput, ...]

    @property
    def txid(self) -> bytes:
        return dsha256(self.stripped)


def parse_transaction(raw: bytes) -> ParsedTransaction:
    """Parse a (segwit or legacy) transaction and re-serialise it without witness data."""
    reader = _Reader(raw)
    version = reader.take(4)
    segwit = raw[4:6] == b"\x00\x01"
    if segwit:
        reader.take(2)
    body_start = reader.pos
    inputs = reader.varint()
    for _ in range(inputs):
        reader.take(36)
        reader.take(reader.varint())
        reader.take(4)
    count = reader.varint()
    spans: list[tuple[int, int, int]] = []
    for _ in range(count):
        value = int.from_bytes(reader.take(8), "little")
        length = reader.varint()
        spans.append((value, reader.pos, length))
        reader.take(length)
    body_end = reader.pos
    if segwit:
        for _ in range(inputs):
            for _ in range(reader.varint()):
                reader.take(reader.varint())
    lock_time = reader.take(4)
    if reader.pos != len(raw):
        raise BitcoinParseError(f"{len(raw) - reader.pos} bytes after the lock time")
    stripped = version + raw[body_start:body_end] + lock_time
    shift = len(version) - body_start  # offsets in raw -> offsets in stripped
    outputs = tuple(TxOutput(value, raw[start:start + length], start + shift) for value, start, length in spans)
    return ParsedTransaction(stripped, outputs)


def op_return_data(script: bytes) -> tuple[bytes, int] | None:
    """The data pushed by an ``OP_RETURN <push>`` script and its offset in the script; None otherwise.

    Parses the push opcode (direct 1..75, OP_PUSHDATA1, OP_PUSHDATA2): a 57-byte
    payload is pushed as ``6a 39 …``, one of 76 bytes or more as ``6a 4c NN …``.
    """
    if len(script) < 2 or script[0] != 0x6A:
        return None
    op = script[1]
    if 1 <= op <= 75:
        start, length = 2, op
    elif op == 0x4C and len(script) >= 3:
        start, length = 3, script[2]
    elif op == 0x4D and len(script) >= 4:
        start, length = 4, int.from_bytes(script[2:4], "little")
    else:
        return None
    if start + length != len(script):
        return None
    return script[start:], start


@dataclass(frozen=True, slots=True)
class BlockHeader:
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 80:
            raise BitcoinParseError(f"a block header is 80 bytes, got {len(self.raw)}")

    @property
    def hash(self) -> bytes:
        return dsha256(self.raw)

    @property
    def previous(self) -> bytes:
        return self.raw[4:36]

    @property
    def merkle_root(self) -> bytes:
        return self.raw[36:68]


def merkle_branch(txids: list[bytes], index: int) -> list[bytes]:
    """Siblings from leaf ``index`` up to the root of the tree over ``txids``."""
    if not 0 <= index < len(txids):
        raise BitcoinParseError(f"transaction index {index} outside a block of {len(txids)}")
    branch: list[bytes] = []
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[index ^ 1])
        level = [dsha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return branch


def fold_branch(leaf: bytes, index: int, branch: list[bytes]) -> bytes:
    """The merkle root that ``branch`` leads to from ``leaf`` at position ``index``."""
    node = leaf
    for sibling in branch:
        node = dsha256(sibling + node) if index & 1 else dsha256(node + sibling)
        index //= 2
    return node
