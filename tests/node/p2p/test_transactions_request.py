"""Transactions requests (compact proposals' missing transactions, issue 21) between real libp2p hosts."""

from __future__ import annotations

import pytest
import trio
from eth_hash.auto import keccak

from node.p2p import SyncRequestRefused
from node.p2p.messages import (
    MAX_TRANSACTIONS_PER_REQUEST,
    MalformedMessage,
    TransactionsRequest,
    decode_request,
    encode_request,
)
from tests.e2e.node_process import free_port
from tests.node.p2p.harness import KEYS, address_of, start_node, wait_until

HELD = {keccak(raw): raw for raw in (b"\x02tx one", b"\x02tx two", b"\xc2\x01\x02")}


async def _pair(nursery: trio.Nursery, provider):
    keys = KEYS[:2]
    ports = [free_port(), free_port()]
    addresses = [address_of(key, port) for key, port in zip(keys, ports, strict=True)]
    asker = await start_node(nursery, keys[0], port=ports[0], allowed=keys, bootstrap=addresses)
    holder = await start_node(nursery, keys[1], port=ports[1], allowed=keys, bootstrap=addresses,
                              transactions_provider=provider)
    await wait_until(lambda: asker.network.peers() == [holder.peer_id], what="asker connected to holder")
    return asker, holder


async def test_the_held_transactions_come_back_and_the_others_are_left_out(nursery: trio.Nursery) -> None:
    def provider(hashes: list[bytes]) -> list[bytes]:
        return [HELD[tx_hash] for tx_hash in hashes if tx_hash in HELD]

    asker, holder = await _pair(nursery, provider)
    unknown = keccak(b"never seen")
    wanted = [*HELD, unknown]
    assert await asker.network.request_transactions(holder.peer_id, wanted, timeout=5) == list(HELD.values())
    with pytest.raises(ValueError, match="1 to 1024"):
        await asker.network.request_transactions(holder.peer_id, [], timeout=5)


async def test_a_node_without_a_provider_refuses(nursery: trio.Nursery) -> None:
    asker, holder = await _pair(nursery, None)
    with pytest.raises(SyncRequestRefused, match="not served"):
        await asker.network.request_transactions(holder.peer_id, list(HELD), timeout=5)


def test_requests_carry_1_to_the_maximum_of_32_byte_hashes() -> None:
    hashes = tuple(keccak(bytes([i % 256, i // 256])) for i in range(MAX_TRANSACTIONS_PER_REQUEST))
    assert decode_request(encode_request(TransactionsRequest(hashes))) == TransactionsRequest(hashes)
    for bad in ((), (b"short",), (*hashes, keccak(b"one more"))):
        with pytest.raises(MalformedMessage):
            decode_request(encode_request(TransactionsRequest(bad)))
