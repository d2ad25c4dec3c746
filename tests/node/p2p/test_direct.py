"""Transactions and consensus messages on direct streams between real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

from dataclasses import replace

import pytest
import rlp
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.utils import encode_varint_prefixed

from node.p2p import MessageTooLarge
from node.p2p.messages import KIND_CONSENSUS, direct_protocol_id, encode_frame
from tests.node.p2p.harness import (
    FAST,
    KEYS,
    NETWORK_ID,
    address_of,
    free_port,
    open_raw_direct_stream,
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
    await trio.sleep(0.5)  # anything relayed would show up as a duplicate by now

    assert b.transactions == [(b"raw tx 1", a.peer_id)]
    assert c.transactions == [(b"raw tx 1", a.peer_id)]
    assert a.transactions == []
    assert a.consensus == b.consensus == c.consensus == []


async def test_burst_of_consensus_messages_all_arrive_once_in_order(nursery: trio.Nursery) -> None:
    """500 consensus messages, each published on its own (libp2p gossipsub's defaults delivered 34 of them)."""
    a, b = await start_validators(nursery, 2)
    await wait_for_full_mesh([a, b])
    sent = [b"vote %d" % number for number in range(500)]

    for message in sent:
        await a.network.publish_consensus(message)
        await trio.lowlevel.checkpoint()  # let the outbox send each one as its own frame
    await wait_until(lambda: len(b.consensus) >= 500, timeout=30, what="500 deliveries",
                     state=lambda: f"{len(b.consensus)} delivered")
    await trio.sleep(0.3)

    assert [raw for raw, _ in b.consensus] == sent  # one stream per direction: order kept
    assert {origin for _, origin in b.consensus} == {a.peer_id}
    assert a.consensus == []


async def test_messages_published_together_share_a_frame(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_for_full_mesh([a, b])
    sent = [b"tx %d" % number for number in range(2000)]
    frames_before = b.network.guard._state(ID.from_base58(a.peer_id), trio.current_time()).tokens

    for message in sent:
        await a.network.publish_transaction(message)
    await wait_until(lambda: len(b.transactions) >= 2000, what="2000 deliveries")

    assert [raw for raw, _ in b.transactions] == sent
    # Each frame takes one token of a's budget at b: 2000 payloads came in a couple of frames (1024 per frame at most).
    frames_used = frames_before - b.network.guard._state(ID.from_base58(a.peer_id), trio.current_time()).tokens
    assert frames_used <= 4


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


@pytest.mark.parametrize(("frame", "problem"), [
    (encode_varint_prefixed(b"\xff not a frame"), "not RLP"),
    (encode_varint_prefixed(rlp.encode([9, [b"x"]])), "unknown frame kind 9"),
    (encode_varint_prefixed(rlp.encode([KIND_CONSENSUS, b"not a list"])), "frame payloads must be a list"),
    (b"\xff" * 11, "frame length prefix longer than 10 bytes"),
    (encode_varint_prefixed(b"x" * 2048)[:4] + b"x" * 100, "exceeds the limit of 1024 bytes"),
])
async def test_a_malformed_or_oversized_frame_penalises_the_peer_and_closes_only_its_stream(
        nursery: trio.Nursery, frame: bytes, problem: str) -> None:
    keys = KEYS[:2]
    ports = [free_port(), free_port()]
    addresses = [address_of(key, port) for key, port in zip(keys, ports, strict=True)]
    a = await start_node(nursery, keys[0], port=ports[0], allowed=keys, bootstrap=addresses)
    b = await start_node(nursery, keys[1], port=ports[1], allowed=keys, bootstrap=addresses,
                         settings=replace(FAST, max_frame_bytes=1024, send_queue_bytes=1024))
    await wait_for_full_mesh([a, b])

    raw = await open_raw_direct_stream(a, b)
    await raw.write(frame)
    await wait_until(lambda: b.log.count("warning", "malformed frame from peer; stream closed") == 1,
                     what="the warning at b")
    # b closed the stream: the hostile writer sees it reset.
    with pytest.raises(Exception):  # noqa: B017  # libp2p raises StreamReset / StreamEOF, depending on timing
        with trio.fail_after(3):
            while True:
                if not await raw.read(100):
                    raise EOFError
    warning = next(fields for level, event, fields in b.log.events
                   if (level, event) == ("warning", "malformed frame from peer; stream closed"))
    assert problem in warning["problem"] and warning["peer"] == a.peer_id
    assert b.network.guard.score(ID.from_base58(a.peer_id)) > 20  # MALFORMED_PENALTY, less a little decay
    # The node is fine, and a's regular stream still delivers.
    await a.network.publish_consensus(b"after the bad frame")
    await wait_until(lambda: b.consensus == [(b"after the bad frame", a.peer_id)], what="a's message after it")
    assert b.network.peers() == [a.peer_id]
    assert not [event for level, event, _ in b.log.events if level == "error"]


async def test_a_stalled_peer_does_not_hold_up_the_others_and_is_disconnected(nursery: trio.Nursery) -> None:
    """c accepts a's direct stream and never reads it: a's writes to c block once yamux's window is
    spent, while b keeps getting every message at once; after the write deadline a drops c's connection."""
    keys = KEYS[:3]
    ports = [free_port() for _ in keys]
    addresses = [address_of(key, port) for key, port in zip(keys, ports, strict=True)]
    settings = replace(FAST, write_timeout=1.5, max_frame_bytes=256 * 1024, send_queue_bytes=512 * 1024)
    c = await start_node(nursery, keys[2], port=ports[2], allowed=keys, bootstrap=[], settings=settings)
    stalled: list[str] = []

    async def never_read(stream: object) -> None:
        stalled.append(str(stream.muxed_conn.peer_id))  # type: ignore[attr-defined]
        await trio.sleep_forever()

    assert c.network.host is not None
    c.network.host.set_stream_handler(TProtocol(direct_protocol_id(NETWORK_ID)), never_read)
    a = await start_node(nursery, keys[0], port=ports[0], allowed=keys, bootstrap=addresses, settings=settings)
    b = await start_node(nursery, keys[1], port=ports[1], allowed=keys, bootstrap=addresses, settings=settings)
    await wait_for_full_mesh([a, b])
    await wait_until(lambda: c.peer_id in a.network.linked_peers() and a.peer_id in stalled, what="a's stream to c")

    sent = [bytes([number]) * 100_000 for number in range(40)]  # 4 MB: far beyond c's 256 KiB window
    started = trio.current_time()
    for message in sent:
        await a.network.publish_consensus(message)
        await trio.sleep(0.01)
    await wait_until(lambda: len(b.consensus) == len(sent), timeout=5, what="every message at b",
                     state=lambda: f"{len(b.consensus)} of {len(sent)}")
    assert trio.current_time() - started < 2.0  # not held up behind c's write deadline
    assert [raw for raw, _ in b.consensus] == sent
    assert a.log.count("warning", "send queue to peer full; frames dropped") == 1
    await wait_until(lambda: a.log.count("warning", "write to peer timed out; closing its connection") == 1,
                     timeout=5, what="a's write deadline for c")
    warning = next(fields for level, event, fields in a.log.events
                   if event == "write to peer timed out; closing its connection")
    assert warning["peer"] == c.peer_id
    await wait_until(lambda: c.peer_id not in a.network.linked_peers(), what="c's link dropped at a")
    # a still reaches b.
    await a.network.publish_consensus(b"still fine")
    await wait_until(lambda: b.consensus[-1] == (b"still fine", a.peer_id), what="the next message at b")


async def test_frames_from_a_peer_not_allowed_any_more_are_refused(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_for_full_mesh([a, b])
    raw = await open_raw_direct_stream(a, b)
    b.network.guard.penalise(ID.from_base58(a.peer_id), 1000, "test ban")

    await raw.write(encode_varint_prefixed(encode_frame(KIND_CONSENSUS, [b"from a banned peer"])))
    await wait_until(lambda: a.peer_id not in b.network.peers(), what="a disconnected from b")
    await trio.sleep(0.3)
    assert b.consensus == []


async def test_oversized_and_non_bytes_payloads_are_refused(nursery: trio.Nursery) -> None:
    (a,) = await start_validators(nursery, 1)
    with pytest.raises(MessageTooLarge):
        await a.network.publish_consensus(b"x" * (8 * 1024 * 1024))
    with pytest.raises(TypeError):
        await a.network.publish_transaction("0xf86b...")  # type: ignore[arg-type]
