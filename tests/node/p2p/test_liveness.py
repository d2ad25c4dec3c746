"""Peer liveness without TCP timers: per-peer pings, hard deadlines, aborted connections (issue 26)."""

from __future__ import annotations

import dataclasses

import pytest
import trio
from libp2p.peer.id import ID

from node.p2p.deadline import abort_connection, bounded
from node.p2p.messages import STATUS_PROTOCOL_ID
from tests.node.p2p.harness import FAST, Node, start_validators, wait_until


async def test_bounded_returns_at_its_deadline_although_the_call_shields_itself(nursery: trio.Nursery) -> None:
    finished = trio.Event()

    async def shielded_cleanup() -> None:  # what py-libp2p's new_stream does with a stream reset
        with trio.CancelScope(shield=True):
            await trio.sleep(2)
        finished.set()

    start = trio.current_time()
    with pytest.raises(trio.TooSlowError):
        await bounded(nursery, 0.2, shielded_cleanup)
    assert trio.current_time() - start < 0.5
    assert not finished.is_set()  # still lingering; a plain move_on_after would have waited for it


async def test_bounded_passes_results_and_exceptions_through(nursery: trio.Nursery) -> None:
    async def answer() -> int:
        await trio.sleep(0)
        return 42

    async def fail() -> int:
        raise ValueError("no")

    assert await bounded(nursery, 1, answer) == 42
    with pytest.raises(ValueError, match="no"):
        await bounded(nursery, 1, fail)


async def test_an_aborted_connection_is_noticed_and_redialled(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    await wait_until(lambda: a.network.peers() == [b.peer_id] and b.network.peers() == [a.peer_id],
                     what="a and b connected")
    connections = a.network.host.get_network().get_connections(ID.from_base58(b.peer_id))
    assert connections and all(abort_connection(connection) for connection in connections)
    await wait_until(lambda: all(connection.is_closed for connection in connections), what="the old connection closed")
    seconds = await wait_until(lambda: a.network.peers() == [b.peer_id] and b.network.peers() == [a.peer_id],
                               what="a and b connected again")
    assert seconds < 3


async def test_a_silent_peer_leaves_peers_at_its_first_missed_ping_and_delays_no_one_else(
        nursery: trio.Nursery) -> None:
    settings = dataclasses.replace(FAST, ping_interval=0.3, ping_timeout=0.5, ping_failures_before_disconnect=1000)
    a, b, c = await start_validators(nursery, 3, settings=settings)
    await wait_until(lambda: a.network.peers() == sorted([b.peer_id, c.peer_id]), what="a connected to b and c")

    async def hang(stream: object) -> None:
        await trio.sleep_forever()

    answer = b.network.host.get_mux().handlers[STATUS_PROTOCOL_ID]
    b.network.host.set_stream_handler(STATUS_PROTOCOL_ID, hang)  # connected, deaf to pings
    seconds = await wait_until(lambda: a.network.peers() == [c.peer_id], what="a leaving out b",
                               state=a.network.peers)
    assert seconds < settings.ping_interval + settings.ping_timeout + 0.5
    assert a.log.count("warning", "peer not answering pings") == 1
    # c is still pinged on time: its statuses keep coming while b's pings time out.
    before = sum(1 for peer, _ in a.statuses if peer == c.peer_id)
    await trio.sleep(4 * settings.ping_interval + settings.ping_timeout)
    assert sum(1 for peer, _ in a.statuses if peer == c.peer_id) >= before + 3
    assert a.network.peers() == [c.peer_id]
    b.network.host.set_stream_handler(STATUS_PROTOCOL_ID, answer)
    await wait_until(lambda: a.network.peers() == sorted([b.peer_id, c.peer_id]), what="b answering again")


async def test_a_reconnected_peer_is_announced_ready_and_gets_what_is_published_then(nursery: trio.Nursery) -> None:
    async def greet(node: Node, peer: str) -> None:  # what the engine does: re-send its latest round
        await node.network.publish_consensus(b"latest round change of " + node.peer_id.encode())

    a, b = await start_validators(nursery, 2, on_ready=greet)
    await wait_until(lambda: a.ready == [b.peer_id] and b.ready == [a.peer_id], what="both announced ready")
    await wait_until(lambda: len(a.consensus) == 1 and len(b.consensus) == 1, what="the greetings")
    for connection in a.network.host.get_network().get_connections(ID.from_base58(b.peer_id)):
        abort_connection(connection)  # a cut: whatever either sends meanwhile is lost
    await wait_until(lambda: len(a.ready) >= 2 and len(b.ready) >= 2, what="ready again",
                     state=lambda: (a.ready, b.ready))
    assert set(a.ready) == {b.peer_id} and set(b.ready) == {a.peer_id}
    await wait_until(lambda: len(a.consensus) >= 2 and len(b.consensus) >= 2, what="the greetings after the heal",
                     state=lambda: (a.consensus, b.consensus))
    assert set(a.consensus) == {(b"latest round change of " + b.peer_id.encode(), b.peer_id)}
