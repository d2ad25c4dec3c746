"""An allowed peer that sends what no honest validator would: real libp2p hosts on 127.0.0.1.

Issue 22, high 4: a deeply nested RLP gossip message raised RecursionError inside libp2p's pubsub
service, which stopped gossip and escaped P2PNetwork.run. Messages now travel on direct streams
(issue 21); the same frames must cost the sender its stream and points, never the node.
"""

from __future__ import annotations

from dataclasses import replace

import rlp
import trio
from libp2p.peer.id import ID
from libp2p.utils import encode_varint_prefixed

from node.p2p.messages import KIND_CONSENSUS, encode_frame
from tests.node.p2p.harness import (
    FAST,
    KEYS,
    address_of,
    free_port,
    open_raw_direct_stream,
    start_node,
    start_validators,
    wait_for_full_mesh,
    wait_until,
)


def nested(depth: int) -> bytes:
    """``depth`` RLP lists inside each other, built without recursion."""
    data = b"\xc0"
    for _ in range(depth - 1):
        data = rlp.codec.length_prefix(len(data), 0xC0) + data
    return data


async def test_a_deeply_nested_rlp_frame_leaves_p2p_running(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_for_full_mesh([a, b])
    # Bypass the batching layer, as a hostile validator could: a 100,000-deep list (378 KB) as the
    # frame itself, then (on a second stream: the first is closed) a well-formed frame whose one
    # payload nests 5,000 deep.
    for frame in (nested(100_000), encode_frame(KIND_CONSENSUS, [nested(5_000)])):
        raw = await open_raw_direct_stream(a, b)
        await raw.write(encode_varint_prefixed(frame))
    await wait_until(lambda: b.log.count("warning", "malformed frame from peer; stream closed") == 2,
                     what="both frames refused")
    await a.network.publish_consensus(b"after the attack")
    await wait_until(lambda: b.consensus, what="the well-formed message after the nested ones")

    assert b.consensus == [(b"after the attack", a.peer_id)]
    assert b.network.host is not None and b.network.peers() == [a.peer_id]
    problems = [fields for level, event, fields in b.log.events
                if (level, event) == ("warning", "malformed frame from peer; stream closed")]
    assert [p["problem"] for p in problems] == ["RLP lists nested deeper than 16"] * 2
    assert {p["peer"] for p in problems} == {a.peer_id}
    assert b.network.guard.score(ID.from_base58(a.peer_id)) > 40  # 2 x 25, less a little decay
    # And messages still flow the other way.
    await b.network.publish_consensus(b"b is alive")
    await wait_until(lambda: a.consensus == [(b"b is alive", b.peer_id)], what="b's message at a")


async def test_a_flood_over_the_rate_is_dropped_and_the_peer_banned_then_readmitted(nursery: trio.Nursery) -> None:
    keys = KEYS[:2]
    ports = [free_port(), free_port()]
    addresses = [address_of(key, port) for key, port in zip(keys, ports, strict=True)]
    strict = replace(FAST, peer_message_rate=5.0, peer_message_burst=10, peer_ban_score=30.0,
                     peer_ban_seconds=2.0)
    a = await start_node(nursery, keys[0], port=ports[0], allowed=keys, bootstrap=addresses)
    b = await start_node(nursery, keys[1], port=ports[1], allowed=keys, bootstrap=addresses, settings=strict)
    await wait_for_full_mesh([a, b])

    for number in range(100):
        await a.network.publish_consensus(b"flood %d" % number)
        await trio.lowlevel.checkpoint()  # each one its own frame
    await wait_until(lambda: b.log.count("warning", "peer banned; disconnecting") == 1, what="a banned at b")

    assert 10 <= len(b.consensus) <= 30  # the burst, and what the rate (5/s) refilled meanwhile: not 100
    assert b.log.count("warning", "peer over its message rate; messages dropped") == 1
    await wait_until(lambda: a.peer_id not in b.network.peers(), what="a disconnected from b")
    assert b.network.guard.is_banned(ID.from_base58(a.peer_id))

    # The ban is temporary: a is re-admitted, and its messages arrive again.
    await wait_until(lambda: a.peer_id in b.network.peers(), timeout=10, what="a re-admitted after its ban")
    await wait_for_full_mesh([a, b], timeout=10)
    await a.network.publish_consensus(b"after the ban")
    await wait_until(lambda: (b"after the ban", a.peer_id) in b.consensus, what="a's message after the ban")
