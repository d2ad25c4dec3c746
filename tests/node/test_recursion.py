"""Under the node's recursion limit, deeply nested RLP is an ordinary decode error, not a RecursionError.

``node.recursion.bound_recursion`` lowers the limit py_ecc raised to 100,000
back to 12,288; a list nested 20,000 deep (60 KB) then exhausts it inside
``rlp.decode``, which every decoder of untrusted bytes must answer as malformed.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consensus.certificate import CommitCertificate, InvalidCertificate
from consensus.messages import InvalidMessage
from consensus.messages import decode as decode_consensus_message
from consensus.safety import InvalidSafetyRecord, SafetyRecord
from node.backend import Backend, InvalidBlock, InvalidTransaction
from node.recursion import NODE_RECURSION_LIMIT, bound_recursion
from node.store import ChainStore
from tests.helpers import GENESIS


def nested_list(depth: int) -> bytes:
    """The RLP of ``[[[…]]]``, ``depth`` lists deep, built without recursion."""
    payload = b""
    for _ in range(depth):
        length = len(payload)
        if length < 56:
            payload = bytes([0xC0 + length]) + payload
        else:
            size = length.to_bytes((length.bit_length() + 7) // 8, "big")
            payload = bytes([0xF7 + len(size)]) + size + payload
    return payload


DEEP = nested_list(20_000)


@pytest.fixture(autouse=True)
def node_recursion_limit() -> Iterator[None]:
    previous = sys.getrecursionlimit()
    bound_recursion()
    assert sys.getrecursionlimit() == NODE_RECURSION_LIMIT
    yield
    sys.setrecursionlimit(previous)


@pytest.mark.parametrize("decode, error", [
    (lambda raw: decode_consensus_message(raw, 1337), InvalidMessage),
    (CommitCertificate.decode, InvalidCertificate),
    (SafetyRecord.decode, InvalidSafetyRecord),
])
def test_consensus_decoders_call_deep_nesting_malformed(decode: Callable[[bytes], object], error: type) -> None:
    with pytest.raises(error, match="nested too deeply"):
        decode(DEEP)


def test_backend_decoders_call_deep_nesting_malformed(tmp_path: Path) -> None:
    store = ChainStore(tmp_path / "chain", GENESIS)
    try:
        backend = Backend(store, coinbase=b"\x00" * 20)
        with pytest.raises(InvalidTransaction, match="nested too deeply"):
            backend.decode_transaction(b"\x02" + DEEP)
        with pytest.raises(InvalidBlock, match="nested too deeply"):
            backend.decode_block(DEEP)
    finally:
        store.close()
