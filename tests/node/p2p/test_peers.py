"""Who may connect, how a foreign network shows up, and reconnecting after restarts."""

from __future__ import annotations

import dataclasses

import pytest
import trio
from libp2p.peer.id import ID

from node.p2p import (
    InvalidNetworkConfig,
    ListenFailed,
    NetworkNotRunning,
    P2PNetwork,
    PeerNotConnected,
    SyncRequestFailed,
)
from node.p2p.messages import STATUS_PROTOCOL_ID
from tests.node.p2p.harness import (
    FAST,
    KEYS,
    OTHER_NETWORK_ID,
    Chain,
    address_of,
    free_port,
    start_node,
    start_validators,
    wait_for_full_mesh,
    wait_until,
)


async def test_a_peer_outside_the_allow_list_is_disconnected(nursery: trio.Nursery) -> None:
    a, b = await start_validators(nursery, 2)
    stranger_keys = KEYS[4]
    stranger = await start_node(
        nursery, stranger_keys, port=free_port(),
        allowed=[stranger_keys, *KEYS[:2]],  # the stranger would accept a and b; they do not accept it
        bootstrap=[a.address, b.address],
    )
    await wait_for_full_mesh([a, b])
    await wait_until(lambda: a.log.count("warning", "refused a connection from a peer not in the allow-list") >= 2,
                     what="a refusing the stranger twice")

    await stranger.network.publish_consensus(b"forged vote")
    await stranger.network.publish_transaction(b"spam")
    await b.network.publish_consensus(b"real vote")
    await wait_until(lambda: a.consensus, what="b's vote at a")
    await trio.sleep(0.3)

    assert a.consensus == [(b"real vote", b.peer_id)]
    assert a.transactions == [] and b.transactions == []
    assert stranger.peer_id not in a.network.peers() + b.network.peers()
    assert stranger.network.peers() == []
    with pytest.raises(PeerNotConnected):
        await stranger.network.request_status(a.peer_id)
    assert not any(peer == stranger.peer_id for peer, _ in a.statuses + b.statuses)


async def test_a_node_of_another_network_is_detected_and_gets_no_messages(nursery: trio.Nursery) -> None:
    # The foreign node's key is allowed: say, a validator started with the wrong genesis.
    foreign_keys, allowed = KEYS[2], KEYS[:3]
    ports = [free_port(), free_port()]
    addresses = [address_of(KEYS[0], ports[0]), address_of(KEYS[1], ports[1])]
    a = await start_node(nursery, KEYS[0], port=ports[0], allowed=allowed, bootstrap=addresses)
    b = await start_node(nursery, KEYS[1], port=ports[1], allowed=allowed, bootstrap=addresses)
    foreign = await start_node(
        nursery, foreign_keys, port=free_port(), allowed=allowed, bootstrap=[a.address],
        network_id=OTHER_NETWORK_ID, chain=Chain(height=3, network_id=OTHER_NETWORK_ID),
    )

    await wait_until(lambda: any(peer == foreign.peer_id for peer, _ in a.statuses), what="the foreign status at a")
    foreign_status = next(status for peer, status in a.statuses if peer == foreign.peer_id)
    assert foreign_status.network_id == OTHER_NETWORK_ID and foreign_status.height == 3
    assert a.log.count("warning", "peer runs a different network") == 1
    await wait_until(lambda: any(status.network_id != OTHER_NETWORK_ID for _, status in foreign.statuses),
                     what="a's status at the foreign node")

    await wait_for_full_mesh([a, b])
    await foreign.network.publish_consensus(b"vote on another chain")
    await b.network.publish_consensus(b"vote")
    await wait_until(lambda: a.consensus, what="b's vote at a")
    await trio.sleep(0.3)
    assert a.consensus == [(b"vote", b.peer_id)]
    assert foreign.consensus == []
    with pytest.raises(SyncRequestFailed):
        await a.network.request_blocks(foreign.peer_id, 0, 1)  # its sync protocol id differs


async def test_a_restarted_node_is_reconnected_and_sends_again(nursery: trio.Nursery) -> None:
    a, b, c = await start_validators(nursery)
    await wait_for_full_mesh([a, b, c])

    await b.stop()
    await wait_until(lambda: b.peer_id not in a.network.peers() + c.network.peers(), what="a and c noticing b left")
    await trio.sleep(1.0)  # a and c back off while b is down
    restarted = await start_node(nursery, b.keys, port=b.port, allowed=KEYS[:3], bootstrap=[a.address, c.address])

    seconds = await wait_for_full_mesh([a, restarted, c], timeout=5)
    await restarted.network.publish_consensus(b"back")
    await a.network.publish_consensus(b"welcome back")
    await wait_until(lambda: len(a.consensus) == 1 and len(c.consensus) == 2 and len(restarted.consensus) == 1,
                     what="messages after the restart",
                     state=lambda: (a.consensus, c.consensus, restarted.consensus))
    assert a.consensus == [(b"back", b.peer_id)]
    assert restarted.consensus == [(b"welcome back", a.peer_id)]
    assert seconds < 5


async def test_a_peer_that_stops_answering_status_polls_is_disconnected_and_redialled(nursery: trio.Nursery) -> None:
    impatient = dataclasses.replace(FAST, ping_timeout=0.3, ping_interval=0.2)
    keys = KEYS[:2]
    ports = [free_port(), free_port()]
    addresses = [address_of(key, port) for key, port in zip(keys, ports, strict=True)]
    a = await start_node(nursery, keys[0], port=ports[0], allowed=keys, bootstrap=addresses, settings=impatient)
    b = await start_node(nursery, keys[1], port=ports[1], allowed=keys, bootstrap=addresses)
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b")
    connections = a.network.host.get_network().get_connections(_id(b.peer_id))

    async def hang(stream: object) -> None:
        await trio.sleep_forever()

    b.network.host.set_stream_handler(STATUS_PROTOCOL_ID, hang)  # alive at TCP level, deaf above
    await wait_until(lambda: a.log.count("warning", "peer unresponsive; closing its connection") == 1,
                     what="a giving up on b")
    # The warning is logged just before the close, which takes a few scheduler turns (at most dial_timeout).
    await wait_until(lambda: all(connection.is_closed for connection in connections),
                     timeout=impatient.dial_timeout, what="b's old connections closed")
    await wait_until(lambda: a.network.peers() == [b.peer_id], what="a connected to b again")


def _id(peer_id: str) -> ID:
    return ID.from_base58(peer_id)


async def test_stopping_closes_the_port_and_publishing_then_fails(nursery: trio.Nursery) -> None:
    (a,) = await start_validators(nursery, 1)
    await a.stop()

    with pytest.raises(NetworkNotRunning):
        await a.network.publish_consensus(b"late")
    with pytest.raises(NetworkNotRunning):
        await a.network.request_status(KEYS[1].peer_id)
    assert a.network.peers() == []
    again = await start_node(nursery, a.keys, port=a.port, allowed=KEYS[:1])  # the port was released
    assert again.network.listen_addresses() == [a.address]


async def test_a_port_in_use_is_a_clear_error(nursery: trio.Nursery) -> None:
    (a,) = await start_validators(nursery, 1)
    second = _network(KEYS[1], listen=f"/ip4/127.0.0.1/tcp/{a.port}")
    with pytest.raises(ListenFailed, match="in use"):
        await nursery.start(second.run)


async def _ignore(*args: object) -> None:
    pass


def _network(keys, **overrides: object) -> P2PNetwork:
    arguments = dict(
        key_pair=keys.libp2p_key_pair(),
        listen="/ip4/127.0.0.1/tcp/0",
        bootstrap=[address_of(KEYS[0], 1), address_of(KEYS[1], 2)],  # our own address is skipped
        allowed_peers=[KEYS[0].peer_id, KEYS[1].peer_id],
        network_id=bytes(32),
        on_transaction=_ignore,
        on_consensus=_ignore,
        status_provider=Chain(height=0).status,
        blocks_provider=lambda start, count: [],
    )
    return P2PNetwork(**{**arguments, **overrides})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"network_id": b"short"}, "network_id"),
        ({"listen": "/ip4/127.0.0.1/udp/1"}, "listen"),
        ({"listen": "not a multiaddr"}, "listen"),
        ({"allowed_peers": ["not-a-peer-id"]}, "allowed peer"),
        ({"bootstrap": ["/ip4/127.0.0.1/tcp/1"]}, "bootstrap address"),
        ({"bootstrap": [address_of(KEYS[3], 1)]}, "bootstrap address"),  # not in allowed_peers
    ],
)
def test_bad_configuration_is_refused_at_construction(overrides: dict, field: str) -> None:
    assert _network(KEYS[0]).peer_id == KEYS[0].peer_id
    with pytest.raises(InvalidNetworkConfig) as error:
        _network(KEYS[0], **overrides)
    assert error.value.field == field
