"""Running a node: consensus, the p2p network, block sync, JSON-RPC and clean shutdown.

One trio nursery owns every service. SIGINT and SIGTERM cancel it; the chain
store is closed last, after the RPC server has stopped. Every block is already
on disk in one synced batch when it is announced, so a SIGKILL loses nothing
that a client was told about.

A validator runs the consensus engine; with more than one validator it also
runs the libp2p network and block sync. ``settle node dev`` is the same engine
with one validator and no network.
"""
from __future__ import annotations

import gc
import math
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import trio

from consensus.state import ConsensusConfig
from consensus.validators import Validator, ValidatorSet
from genesis.keys import ValidatorKeys
from genesis.model import Genesis
from node import metrics
from node.anchor.service import AnchorService, AnchorSettings
from node.backend import Backend, InvalidTransaction
from node.compact_block import transaction_bytes
from node.dev_accounts import DevSigner
from node.engine import ConsensusEngine
from node.logs import READY_EVENT
from node.mempool import MempoolLimits
from node.memtrace import trace_interval, trace_memory
from node.p2p.settings import P2PSettings
from node.recursion import bound_recursion
from node.rpc.admin import AdminAPI
from node.rpc.anchor import AnchorAPI
from node.rpc.api import Connection, EthAPI, NetAPI, RpcAPI, TxpoolAPI, Web3API, dev_namespaces
from node.rpc.audit import WRITE_METHODS, AuditAPI, refusal
from node.rpc.bft import BftAPI
from node.rpc.filters import FilterManager, SubscriptionManager
from node.rpc.limits import RpcLimits
from node.rpc.server import Dispatcher, create_app, serve_rpc
from node.rpc.workers import ReadWorkers, shorten_switch_interval
from node.store import ChainStore
from node.validator_registry import RegistryValidators
from vm.leveldb_mmap import disable_table_mmap, raise_open_file_limit
from vm.precompiles import blake2f_is_native
from vm.trie_read import DEFAULT_NODE_CACHE, node_cache

log = structlog.get_logger("settle.node")


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What one node process needs, whatever CLI command or config it came from."""

    data_dir: Path
    """Where the LevelDB chain lives."""
    genesis: Genesis
    """The network's genesis."""
    keys: ValidatorKeys | None = None
    """This validator's keys; None for a node that does not take part in consensus."""
    block_period: float = 1.0
    """Seconds from one commit to the next proposal."""
    round_timeout: float | None = None
    """Round-0 timeout in seconds; None takes the genesis value."""
    empty_blocks: bool = True
    """Propose every period even with no transactions; a dev chain waits for them instead."""
    p2p_listen: str = "/ip4/127.0.0.1/tcp/30300"
    bootstrap: tuple[str, ...] = ()
    p2p: P2PSettings = field(default_factory=P2PSettings)
    """Limits of the validator network: message budget, peer scoring, RLP depth."""
    rpc_enabled: bool = True
    """False runs the node without a JSON-RPC endpoint."""
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 8545
    cors_origins: tuple[str, ...] = ()
    gas_cap: int = 50_000_000
    evm_timeout: float = 5.0
    """Seconds one eth_call, eth_estimateGas or log query may run (``rpc.evm_timeout_ms``)."""
    execution_workers: int = 2
    """Threads running those off the consensus thread (``rpc.execution_workers``)."""
    max_request_bytes: int = 5 * 1024 * 1024
    rpc_limits: RpcLimits = field(default_factory=RpcLimits)
    """The JSON-RPC server's DoS limits (the [rpc] config keys of the same names)."""
    mempool: MempoolLimits = field(default_factory=MempoolLimits)
    signer: DevSigner | None = None
    """Unlocked accounts for eth_sendTransaction / eth_sign (dev chains only)."""
    dev_methods: bool = False
    """Serve evm_mine / evm_increaseTime."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port; None disables them."""
    anchor: AnchorSettings | None = None
    """Bitcoin anchoring (node/anchor); None when ``[anchor] enabled`` is false or the node is no validator."""
    anchor_rpc_max_records: int = 1000
    """Most records one ``anchor_getAnchors`` answer carries."""
    admin_token: str = field(default="", repr=False)
    """``[rpc] admin_token``: the bearer token of the admin_ namespace; empty: not served."""
    rpc_apis: tuple[str, ...] = ()
    """Namespaces served (``[rpc] apis``); empty: all."""
    role: str = "validator"
    """``validator``, ``dev`` or ``auditor`` (``[node] role``): an auditor follows, verifies and serves
    reads, and never votes or writes (docs/audit.md)."""
    node_key: bytes | None = None
    """The libp2p identity key of an audit node, which has no validator keys."""
    leveldb_cache_bytes: int = 8 * 1024 * 1024
    """LevelDB's block cache (``[storage] leveldb_cache_mb``)."""
    leveldb_write_buffer_bytes: int = 4 * 1024 * 1024
    """LevelDB's memtable size before a flush (``[storage] leveldb_write_buffer_mb``)."""
    recent_blocks: int = 64
    """Committed blocks kept decoded for receipt and log queries (``[storage] recent_blocks``)."""
    trie_node_cache: int = DEFAULT_NODE_CACHE
    """Storage-trie inner nodes kept decoded (``[storage] trie_node_cache``)."""

    @property
    def networked(self) -> bool:
        return len(self.genesis.validators) > 1


def validator_set(genesis: Genesis) -> ValidatorSet:
    return ValidatorSet(tuple(Validator(v.address, v.bls_public_key, v.bls_proof_of_possession)
                              for v in genesis.validators))


def observer_config(settings: NodeSettings) -> ConsensusConfig:
    """An audit node's consensus config: no keys, so the state machine only follows and never signs."""
    params = settings.genesis.consensus
    return ConsensusConfig(chain_id=settings.genesis.chain_id, validator_set=validator_set(settings.genesis),
                           round_timeout_ms=params.round_timeout_ms, max_round_timeout_ms=params.max_round_timeout_ms)


def consensus_config(settings: NodeSettings) -> ConsensusConfig:
    assert settings.keys is not None
    params = settings.genesis.consensus
    round_timeout_ms = (
        params.round_timeout_ms if settings.round_timeout is None else int(settings.round_timeout * 1000)
    )
    return ConsensusConfig(
        chain_id=settings.genesis.chain_id,
        validator_set=validator_set(settings.genesis),
        private_key=settings.keys.account_key,
        bls_private_key=settings.keys.bls_secret_key,
        block_period_ms=int(settings.block_period * 1000),
        round_timeout_ms=round_timeout_ms,
        max_round_timeout_ms=max(params.max_round_timeout_ms, round_timeout_ms),
    )


@dataclass(frozen=True, slots=True)
class RpcParts:
    """The JSON-RPC dispatcher and the per-client state it needs cleaned up when a WebSocket closes."""

    dispatcher: Dispatcher
    filters: FilterManager
    subscriptions: SubscriptionManager

    def drop_connection(self, connection: Connection) -> None:
        """Forget a closed WebSocket's subscriptions and filters."""
        if connection.send is not None:
            self.subscriptions.drop_connection(connection.send)
        self.filters.drop_owner(connection.client)


def build_dispatcher(backend: Backend, settings: NodeSettings, engine: ConsensusEngine | None = None,
                     peer_count: Callable[[], int] = lambda: 0, anchor: AnchorService | None = None,
                     peers: Callable[[], list[str]] = lambda: []) -> RpcParts:
    """Every namespace this node offers, behind one dispatcher with the configured limits."""
    limits = settings.rpc_limits
    filters = FilterManager(backend, limits)
    subscriptions = SubscriptionManager(backend, limits)
    workers = ReadWorkers(settings.execution_workers, settings.evm_timeout)
    methods: dict[str, Callable[..., Any]] = {}
    for namespace in (
        EthAPI(backend, filters, subscriptions, settings.signer, limits, workers),
        NetAPI(backend, peer_count),
        Web3API(),
        TxpoolAPI(backend),
        RpcAPI(lambda: list(methods)),
        *([BftAPI(backend, engine)] if engine is not None else []),
        *dev_namespaces(backend, engine, settings.dev_methods, limits),
        AnchorAPI(backend, anchor, settings.anchor_rpc_max_records),
    ):
        methods.update(namespace.methods())
    if settings.admin_token:
        methods.update(AdminAPI(backend, settings.admin_token, role=settings.role,
                                validator=settings.keys.address if settings.keys is not None else None,
                                peers=peers, p2p_listen=settings.p2p_listen if settings.networked else None
                                ).methods())
    if settings.role == "auditor":
        methods.update(AuditAPI(backend).methods())
        for name in WRITE_METHODS:
            methods[name] = refusal(name)
    elif settings.keys is None:
        # A read-only node: nothing it admits would ever be included.
        for name in ("eth_sendRawTransaction", "eth_sendTransaction"):
            methods.pop(name, None)
    if settings.rpc_apis:
        methods = {name: method for name, method in methods.items() if name.split("_", 1)[0] in settings.rpc_apis}
    return RpcParts(Dispatcher(methods, limits=limits), filters, subscriptions)


def build_rpc(backend: Backend, settings: NodeSettings, engine: ConsensusEngine | None = None,
              peer_count: Callable[[], int] = lambda: 0, anchor: AnchorService | None = None,
              peers: Callable[[], list[str]] = lambda: []) -> Any:
    """The ASGI app serving every namespace this node offers."""
    parts = build_dispatcher(backend, settings, engine, peer_count, anchor, peers)
    return create_app(
        parts.dispatcher,
        cors_origins=list(settings.cors_origins),
        max_request_bytes=settings.max_request_bytes,
        on_disconnect=parts.drop_connection,
    )


def freeze_startup_heap() -> int:
    """Move everything alive after start-up out of the cyclic garbage collector's reach; returns how many objects.

    The modules, the genesis and the configuration live for the whole run, and
    every full (generation 2) collection would walk them again: about 160,000
    objects once the node's modules are imported. In the execution benchmark
    the same kind of walk over the harness's objects cost about 8% of a
    block build (docs/execution.md, item 32). Objects made later are
    collected as usual; reference counting still frees the frozen ones.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def run_node(settings: NodeSettings) -> None:
    """Run until SIGINT/SIGTERM. Owns the chain store for the whole run."""
    bound_recursion()
    open_files = raise_open_file_limit()  # before LevelDB's environment reads it (vm/leveldb_mmap.py)
    node_cache.set_limit(settings.trie_node_cache)
    store = ChainStore(settings.data_dir, settings.genesis, leveldb_cache_bytes=settings.leveldb_cache_bytes,
                       leveldb_write_buffer_bytes=settings.leveldb_write_buffer_bytes)
    try:
        backend = Backend(
            store,
            coinbase=settings.keys.address if settings.keys is not None else b"\x00" * 20,
            mempool_limits=settings.mempool,
            gas_cap=settings.gas_cap,
            evm_timeout=settings.evm_timeout,
            recent_blocks=settings.recent_blocks,
        )
        shorten_switch_interval()
        if not blake2f_is_native():
            log.error("blake2f runs in pure Python (14.8 µs per gas): install the pinned blake2b-py")
        metrics.BLOCK_HEIGHT.set(backend.head.block_number)
        log.debug("start-up heap frozen out of the garbage collector", objects=freeze_startup_heap())
        log.debug("LevelDB tables", mapped=disable_table_mmap() != "disabled", open_files_limit=open_files)
        if settings.metrics_port is not None:
            metrics.start_metrics_server(settings.metrics_host, settings.metrics_port)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                if (trace_seconds := trace_interval()) is not None:
                    nursery.start_soon(trace_memory, trace_seconds)  # diagnosis only (node/memtrace.py)
                engine = None
                network = None
                if settings.keys is not None:
                    engine = ConsensusEngine(
                        backend, consensus_config(settings), empty_blocks=settings.empty_blocks
                    )
                    engine.validator_set_at = RegistryValidators(backend, settings.genesis).at
                    if settings.networked:
                        network = await _start_network(nursery, settings, backend, engine)
                    await nursery.start(engine.run)
                elif settings.role == "auditor":
                    # Follows through sync and the validators' messages; never signs (no keys).
                    engine = ConsensusEngine(backend, observer_config(settings), empty_blocks=False)
                    engine.validator_set_at = RegistryValidators(backend, settings.genesis).at
                    network = await _start_network(nursery, settings, backend, engine)
                    await nursery.start(engine.run)
                anchor = None
                if settings.anchor is not None and settings.keys is not None:
                    registry = RegistryValidators(backend, settings.genesis)

                    def anchor_validators(height: int) -> list[bytes]:
                        return [validator.address for validator in registry.at(height).validators]

                    anchor = AnchorService(backend, settings.anchor, account_key=settings.keys.account_key,
                                           validators=anchor_validators, data_dir=settings.data_dir)
                    await nursery.start(anchor.run)
                if settings.rpc_enabled:
                    app = build_rpc(backend, settings, engine,
                                    (lambda: len(network.peers())) if network is not None else (lambda: 0),
                                    anchor, network.peers if network is not None else (lambda: []))
                    await nursery.start(serve_rpc, app, settings.rpc_host, settings.rpc_port)
                log.info(
                    READY_EVENT,
                    rpc=f"http://{settings.rpc_host}:{settings.rpc_port}" if settings.rpc_enabled else None,
                    p2p=settings.p2p_listen if network is not None else None,
                    chain_id=settings.genesis.chain_id,
                    head=backend.head.block_number,
                    data_dir=str(settings.data_dir),
                )
                async for signum in signals:
                    log.info("shutting down", signal=signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    break
    finally:
        store.close()
        log.info("chain store closed")


async def _start_network(
    nursery: trio.Nursery, settings: NodeSettings, backend: Backend, engine: ConsensusEngine
) -> Any:
    """Start libp2p (transactions, consensus messages, block sync) for a validator of a multi-node network
    (or an auditor)."""
    from libp2p.crypto.ed25519 import create_new_key_pair

    from node.p2p import P2PNetwork, Status
    from node.sync import BlockSync

    if settings.keys is not None:
        key_pair = settings.keys.libp2p_key_pair()
    else:
        assert settings.node_key is not None
        key_pair = create_new_key_pair(settings.node_key)
    registry_now = RegistryValidators(backend, settings.genesis)
    validators = engine.config.validator_set
    sync = BlockSync(backend, engine, backend.store.genesis_id, conflict_threshold=validators.f + 1)

    async def on_transaction(raw: bytes, peer: str) -> None:
        try:
            backend.send_raw_transaction(raw, local=False)
        except InvalidTransaction as exc:  # already known, or invalid: relaying is best effort
            log.debug("transaction from peer not admitted", peer=peer, reason=str(exc))

    def held_transactions(hashes: list[bytes]) -> list[bytes]:
        """The transactions a peer asks for that this node holds (a compact proposal it cannot complete)."""
        held = engine.held_transactions(hashes)
        return [transaction_bytes(held[tx_hash]) for tx_hash in hashes if tx_hash in held]

    network = P2PNetwork(
        key_pair=key_pair,
        listen=settings.p2p_listen,
        bootstrap=settings.bootstrap,
        allowed_peers=registry_now.allowed_peers_at(backend.head.block_number + 1),
        network_id=backend.store.genesis_id,
        on_transaction=on_transaction,
        on_consensus=engine.on_network_message,
        status_provider=lambda: Status(*sync.status()),
        blocks_provider=sync.blocks,
        on_peer_status=sync.on_peer_status,
        on_peer_ready=engine.on_peer_ready,
        settings=settings.p2p,
        transactions_provider=held_transactions,
    )
    engine.network = network
    engine.compact_proposals = settings.p2p.compact_proposals
    engine.fetch_transactions = network.request_transactions
    engine.proposal_fetch_timeout = settings.p2p.proposal_fetch_timeout
    engine.max_fetch_transactions = settings.p2p.max_fetch_transactions
    sync.network = network
    registry = RegistryValidators(backend, settings.genesis)

    def validator_unreachable(address: bytes) -> bool:
        """Whether the validator ``address`` of the current height does not answer our pings (issue 26)."""
        try:
            entries = registry.registry_entries_at(engine.state.height)
        except Exception as exc:  # the registry cannot be read: assume reachable, keep the full timer
            log.debug("registry unreadable for the unreachable-proposer rule", error=str(exc))
            return False
        peer_id = next((entry.peer_id for entry in entries if entry.address == address), None)
        return peer_id is not None and network.is_unreachable(peer_id)

    engine.validator_unreachable = validator_unreachable
    engine.unreachable_proposer_grace_ms = round(settings.p2p.unreachable_proposer_grace * 1000)

    allow_list: set[str] | None = None

    def follow_registry(block: Any, receipts: Any) -> None:
        """The allow-list of the next height: the registry's validators and auditors (a removed one is
        disconnected). Handed to the network only when it changed: parsing every peer id per block is
        wasted on the blocks (nearly all) that leave the registry alone."""
        nonlocal allow_list
        allowed = registry.allowed_peers_at(backend.head.block_number + 1)
        if allowed != allow_list:
            network.set_allowed_peers(allowed)
            allow_list = allowed

    backend.on_block(follow_registry)
    tx_send, tx_receive = trio.open_memory_channel[bytes](math.inf)
    backend.on_local_transaction(tx_send.send_nowait)

    async def send_transactions() -> None:
        async for raw in tx_receive:
            try:
                await network.publish_transaction(raw)
            except Exception as exc:
                log.warning("sending a transaction to peers failed", error=str(exc))

    async def count_peers() -> None:
        while True:
            metrics.PEERS.set(len(network.peers()))
            await trio.sleep(1)

    await nursery.start(network.run)
    await nursery.start(sync.run)
    nursery.start_soon(send_transactions)
    nursery.start_soon(count_peers)
    return network
