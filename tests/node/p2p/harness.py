"""In-process validator networks for the p2p tests: real libp2p hosts on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio
from eth_hash.auto import keccak

from genesis.keys import ValidatorKeys, generate_validator_keys
from node.p2p import P2PNetwork, P2PSettings, Status
from tests.e2e.node_process import free_port

NETWORK_ID = keccak(b"settle p2p tests")
OTHER_NETWORK_ID = keccak(b"another settle network")

KEYS: list[ValidatorKeys] = [generate_validator_keys(bytes([index + 1]) * 32) for index in range(5)]
"""Deterministic identities; the first three are the test validators."""

FAST = P2PSettings(
    request_timeout=2.0,
    serve_timeout=1.0,
    ping_interval=0.5,
    dial_timeout=2.0,
    redial_initial_delay=0.1,
    redial_max_delay=0.5,
)
"""Short timeouts so failure paths finish quickly."""


class RecordingLog:
    """A structlog-like logger that keeps every event, so tests can assert warnings."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, level: str, event: str, **fields: Any) -> None:
        self.events.append((level, event, fields))

    def debug(self, event: str, **fields: Any) -> None:
        self._record("debug", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._record("info", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._record("warning", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self._record("error", event, **fields)

    def count(self, level: str, event: str) -> int:
        return sum(1 for logged_level, logged_event, _ in self.events if (logged_level, logged_event) == (level, event))


class Chain:
    """A stand-in chain store: blocks are b"block <height>"."""

    def __init__(self, height: int, network_id: bytes = NETWORK_ID) -> None:
        self.network_id = network_id
        self.blocks = [b"block %d" % number for number in range(height + 1)]
        self.fail = False

    def status(self) -> Status:
        return Status(network_id=self.network_id, height=len(self.blocks) - 1, head_hash=keccak(self.blocks[-1]))

    def blocks_from(self, start: int, count: int) -> list[bytes]:
        if self.fail:
            raise RuntimeError("store is closed")
        return self.blocks[start:start + count]


@dataclass
class Node:
    """One running P2PNetwork and everything it delivered."""

    keys: ValidatorKeys
    port: int
    network: P2PNetwork
    chain: Chain
    log: RecordingLog
    transactions: list[tuple[bytes, str]] = field(default_factory=list)
    consensus: list[tuple[bytes, str]] = field(default_factory=list)
    statuses: list[tuple[str, Status]] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)
    """Peers ``on_peer_ready`` announced, in order."""
    cancel_scope: trio.CancelScope | None = None

    @property
    def peer_id(self) -> str:
        return self.keys.peer_id

    @property
    def address(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.port}/p2p/{self.peer_id}"

    async def stop(self) -> None:
        """Cancel the node's run() and wait until its host is gone."""
        assert self.cancel_scope is not None
        self.cancel_scope.cancel()
        with trio.fail_after(5):
            while self.network.host is not None:
                await trio.sleep(0.01)


def address_of(keys: ValidatorKeys, port: int) -> str:
    return f"/ip4/127.0.0.1/tcp/{port}/p2p/{keys.peer_id}"


async def start_node(
    nursery: trio.Nursery,
    keys: ValidatorKeys,
    *,
    port: int,
    allowed: list[ValidatorKeys],
    bootstrap: list[str] = (),  # type: ignore[assignment]
    network_id: bytes = NETWORK_ID,
    chain: Chain | None = None,
    on_consensus: Any = None,
    settings: P2PSettings = FAST,
    on_ready: Any = None,
    transactions_provider: Any = None,
) -> Node:
    """Start a P2PNetwork in its own cancel scope, so a test can stop one node."""
    chain = chain or Chain(height=10, network_id=network_id)
    log = RecordingLog()
    node: Node

    async def on_transaction(raw: bytes, origin: str) -> None:
        node.transactions.append((raw, origin))

    async def record_consensus(raw: bytes, origin: str) -> None:
        node.consensus.append((raw, origin))

    async def on_peer_status(peer: str, status: Status) -> None:
        node.statuses.append((peer, status))

    async def on_peer_ready(peer: str) -> None:
        node.ready.append(peer)
        if on_ready is not None:
            await on_ready(node, peer)

    network = P2PNetwork(
        key_pair=keys.libp2p_key_pair(),
        listen=f"/ip4/127.0.0.1/tcp/{port}",
        bootstrap=list(bootstrap),
        allowed_peers=[other.peer_id for other in allowed],
        network_id=network_id,
        on_transaction=on_transaction,
        on_consensus=on_consensus or record_consensus,
        status_provider=chain.status,
        blocks_provider=chain.blocks_from,
        on_peer_status=on_peer_status,
        on_peer_ready=on_peer_ready,
        log=log,
        settings=settings,
        transactions_provider=transactions_provider,
    )
    node = Node(keys=keys, port=port, network=network, chain=chain, log=log)

    async def run_scoped(*, task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as inner:
                await inner.start(network.run)
                task_status.started(scope)

    node.cancel_scope = await nursery.start(run_scoped)
    return node


async def start_validators(nursery: trio.Nursery, count: int = 3, settings: P2PSettings = FAST,
                           on_ready: Any = None) -> list[Node]:
    """``count`` validators that all allow and bootstrap to each other, on fresh ports."""
    keys = KEYS[:count]
    ports = [free_port() for _ in keys]
    addresses = [address_of(key, port) for key, port in zip(keys, ports, strict=True)]
    nodes = []
    for key, port in zip(keys, ports, strict=True):
        nodes.append(await start_node(nursery, key, port=port, allowed=keys, bootstrap=addresses, settings=settings,
                                      on_ready=on_ready))
    return nodes


async def wait_until(condition: Any, timeout: float = 5.0, what: str = "condition", state: Any = None) -> float:
    """Poll ``condition()`` until true; return the seconds it took.

    Fails the test after ``timeout``, showing ``state()`` if given.
    """
    start = trio.current_time()
    try:
        with trio.fail_after(timeout):
            while not condition():
                await trio.sleep(0.01)
    except trio.TooSlowError:
        detail = f" ({state()})" if state is not None else ""
        raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}") from None
    return trio.current_time() - start


async def wait_for_full_mesh(nodes: list[Node], timeout: float = 15.0) -> float:
    """Wait until every node has its direct stream open to every other one."""
    def meshed() -> bool:
        return all(
            set(node.network.linked_peers()) == {other.peer_id for other in nodes if other is not node}
            for node in nodes
        )
    return await wait_until(meshed, timeout, "direct streams between every pair")


async def open_raw_direct_stream(sender: Node, receiver: Node, network_id: bytes = NETWORK_ID) -> Any:
    """A direct-protocol stream from ``sender`` to ``receiver`` that bypasses the batching layer,
    as a buggy or hostile validator could write to it."""
    from libp2p.custom_types import TProtocol
    from libp2p.peer.id import ID

    from node.p2p.messages import direct_protocol_id

    host = sender.network.host
    assert host is not None
    return await host.new_stream(ID.from_base58(receiver.peer_id), [TProtocol(direct_protocol_id(network_id))])
