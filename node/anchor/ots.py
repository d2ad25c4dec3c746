"""OpenTimestamps ``.ots`` proofs of an anchored block hash, built from our own merkle paths.

A proof is a list of operations that take the timestamped digest (the Settle
block hash, 32 bytes) to a Bitcoin block's merkle root, ending in a Bitcoin
block-header attestation with that block's height:

1. prepend the anchor transaction's bytes before the hash, append those after it
   (the transaction serialised without witness data, so the result hashes to the txid);
2. sha256, sha256 (the txid);
3. for each merkle level: prepend or append the sibling, then sha256, sha256;
4. the attestation ``BitcoinBlockHeaderAttestation(height)``: the result must be
   the merkle root in that block's header.

``ots --no-cache --bitcoin-node URL verify -d HASH FILE`` checks it against any
node's headers; no calendar server is involved. The encoding follows
python-opentimestamps (``DetachedTimestampFile.serialize``), written out here
because a linear path needs only five opcodes.
"""
from __future__ import annotations

from node.anchor.bitcoin_tx import BitcoinParseError

MAGIC = b"\x00OpenTimestamps\x00\x00Proof\x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94"
MAJOR_VERSION = 1
OP_SHA256 = 0x08
OP_APPEND = 0xF0
OP_PREPEND = 0xF1
ATTESTATION = 0x00
BITCOIN_ATTESTATION_TAG = bytes.fromhex("0588960d73d71901")
MAX_OP_ARGUMENT = 4096
"""The client refuses longer operation arguments (so an anchor transaction must stay below it)."""


def _varuint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varbytes(data: bytes) -> bytes:
    return _varuint(len(data)) + data


def _binary(op: int, argument: bytes) -> bytes:
    if not 1 <= len(argument) <= MAX_OP_ARGUMENT:
        raise BitcoinParseError(f"an OpenTimestamps operation argument is 1..{MAX_OP_ARGUMENT} bytes, "
                                f"got {len(argument)}")
    return bytes([op]) + _varbytes(argument)


def build_ots(digest: bytes, tx_prefix: bytes, tx_suffix: bytes, branch: list[bytes], index: int,
              btc_height: int) -> bytes:
    """The ``.ots`` bytes proving ``digest`` existed when Bitcoin block ``btc_height`` was mined.

    ``tx_prefix + digest + tx_suffix`` is the anchor transaction without witness
    data; ``branch`` and ``index`` are its merkle path (internal byte order).
    """
    ops = bytearray()
    if tx_prefix:
        ops += _binary(OP_PREPEND, tx_prefix)
    if tx_suffix:
        ops += _binary(OP_APPEND, tx_suffix)
    ops += bytes([OP_SHA256, OP_SHA256])
    for sibling in branch:
        ops += _binary(OP_APPEND if index % 2 == 0 else OP_PREPEND, sibling)
        ops += bytes([OP_SHA256, OP_SHA256])
        index //= 2
    attestation = bytes([ATTESTATION]) + BITCOIN_ATTESTATION_TAG + _varbytes(_varuint(btc_height))
    return MAGIC + _varuint(MAJOR_VERSION) + bytes([OP_SHA256]) + digest + bytes(ops) + attestation
