"""Gossip between real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

import pytest
import trio

from node.p2p import MessageTooLarge
from node.p2p.messages import consensus_topic
from tests.node.p2p.harness import (
    KEYS,
    NETWORK_ID,
    address_of,
    free_port,
    start_node,
    start_validators,
    wait_for_full_mesh,
    wait_until,
)


async def test_transaction_reaches_every_other_node_exactly_once(nursery: trio.Nursery) -> None:
    a, b, c = await start_validators(nursery)
    await wait_for_full_mesh([a, b, c])

    await a.network.publish_transaction(b"raw tx 1")
    await wait_until(lambda: b.transactions and c.transactions, what="delivery to b and c")
    await trio.sleep(0.5)  # relays from b and c to each other would show up as duplicates by now

    assert b.transactions == [(b"raw tx 1", a.peer_id)]
    assert c.transactions == [(b"raw tx 1", a.peer_id)]
    assert a.transactions == []
    assert a.consensus == b.consensus == c.consensus == []


async def test_burst_of_consensus_messages_all_arrive_once(nursery: trio.Nursery) -> None:
    """500 gossip messages in a burst.

    With libp2p's default outbound queue (32 RPCs) 34 of them arrive, with its
    default spam limit (10/s) 16, and nothing is logged above DEBUG.
    """
    a, b = await start_validators(nursery, 2)
    await wait_for_full_mesh([a, b])
    sent = [b"vote %d" % number for number in range(500)]

    for message in sent:
        await a.network.publish_consensus(message)
        await trio.lowlevel.checkpoint()  # let the outbox publish each one as its own gossip message
    await wait_until(lambda: len(b.consensus) >= 500, timeout=30, what="500 deliveries",
                     state=lambda: f"{len(b.consensus)} delivered")
    await trio.sleep(0.3)

    assert sorted(raw for raw, _ in b.consensus) == sorted(sent)
    assert {origin for _, origin in b.consensus} == {a.peer_id}
    assert a.consensus == []


async def test_messages_published_together_share_a_gossip_message(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_for_full_mesh([a, b])
    sent = [b"tx %d" % number for number in range(2000)]

    for message in sent:
        await a.network.publish_transaction(message)
    await wait_until(lambda: len(b.transactions) >= 2000, what="2000 deliveries")

    assert [raw for raw, _ in b.transactions] == sent  # one publisher, one batch stream: order kept


async def test_messages_from_every_node_reach_the_others(nursery: trio.Nursery) -> None:
    nodes = await start_validators(nursery)
    await wait_for_full_mesh(nodes)

    for index, node in enumerate(nodes):
        await node.network.publish_consensus(b"proposal from %d" % index)
    await wait_until(lambda: all(len(node.consensus) == 2 for node in nodes), what="two messages at each node")

    for index, node in enumerate(nodes):
        senders = {origin for _, origin in node.consensus}
        assert senders == {other.peer_id for other in nodes if other is not node}
        assert (b"proposal from %d" % index, node.peer_id) not in node.consensus


async def test_a_raising_callback_does_not_stop_delivery(nursery: trio.Nursery) -> None:
    delivered: list[bytes] = []

    async def fragile(raw: bytes, origin: str) -> None:
        if raw == b"poison":
            raise ValueError("cannot decode")
        delivered.append(raw)

    keys = KEYS[:2]
    ports = [free_port(), free_port()]
    addresses = [address_of(key, port) for key, port in zip(keys, ports, strict=True)]
    a = await start_node(nursery, keys[0], port=ports[0], allowed=keys, bootstrap=addresses)
    b = await start_node(nursery, keys[1], port=ports[1], allowed=keys, bootstrap=addresses, on_consensus=fragile)
    await wait_for_full_mesh([a, b])

    await a.network.publish_consensus(b"poison")
    await a.network.publish_consensus(b"fine")
    await wait_until(lambda: delivered == [b"fine"], what="the message after the poison")
    assert b.log.count("error", "consensus callback raised") == 1


async def test_a_malformed_gossip_message_is_dropped_with_a_warning(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_for_full_mesh([a, b])

    # Bypass the batching layer, as a buggy or hostile validator could.
    await a.network._pubsub.publish(consensus_topic(NETWORK_ID), b"\xff not a batch")
    await a.network.publish_consensus(b"fine")
    await wait_until(lambda: b.consensus, what="the well-formed message")

    assert b.consensus == [(b"fine", a.peer_id)]
    assert b.log.count("warning", "malformed gossip message dropped") == 1


async def test_oversized_and_non_bytes_payloads_are_refused(nursery: trio.Nursery) -> None:
    (a,) = await start_validators(nursery, 1)
    with pytest.raises(MessageTooLarge):
        await a.network.publish_consensus(b"x" * (8 * 1024 * 1024))
    with pytest.raises(TypeError):
        await a.network.publish_transaction("0xf86b...")  # type: ignore[arg-type]
