"""Running a node: the block producer, the RPC server and clean shutdown.

One trio nursery owns every service. SIGINT and SIGTERM cancel it; the chain
store is closed last, after the RPC server has stopped. Every block is already
on disk in one synced batch when it is announced, so a SIGKILL loses nothing
that a client was told about.
"""
from __future__ import annotations

import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import structlog
import trio

from genesis.model import Genesis
from node import metrics
from node.backend import Backend
from node.dev_accounts import DevSigner
from node.mempool import MempoolLimits
from node.rpc.api import DevAPI, EthAPI, NetAPI, Web3API
from node.rpc.filters import FilterManager, SubscriptionManager
from node.rpc.server import Dispatcher, create_app, serve_rpc
from node.store import ChainStore

log = structlog.get_logger("settle.node")


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """What one node process needs, whatever CLI command or config it came from."""

    data_dir: Path
    """Where the LevelDB chain lives."""
    genesis: Genesis
    """The network's genesis."""
    coinbase: bytes
    """The address credited in blocks this node produces."""
    produce_blocks: bool = True
    """False for a node that only serves RPC over an existing data dir."""
    block_period: float = 1.0
    """Minimum seconds between blocks; a block follows as soon as transactions wait."""
    rpc_enabled: bool = True
    """False runs the node without a JSON-RPC endpoint."""
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 8545
    cors_origins: tuple[str, ...] = ()
    gas_cap: int = 50_000_000
    batch_limit: int = 100
    max_request_bytes: int = 5 * 1024 * 1024
    mempool: MempoolLimits = field(default_factory=MempoolLimits)
    signer: DevSigner | None = None
    """Unlocked accounts for eth_sendTransaction / eth_sign (dev chains only)."""
    dev_methods: bool = False
    """Serve evm_mine / evm_increaseTime."""
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port; None disables them."""


class BlockProducer:
    """Builds a block whenever transactions wait, at most one per ``block_period``."""

    def __init__(self, backend: Backend, block_period: float) -> None:
        self.backend = backend
        self.block_period = block_period
        self._wake = trio.Event()
        backend.on_transaction(lambda _: self._wake.set())

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        last_block = -math.inf
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await trio.sleep_until(max(trio.current_time(), last_block + self.block_period))
            last_block = trio.current_time()
            with metrics.BLOCK_BUILD_SECONDS.time():
                built = self.backend.produce_block()
            if built is not None:
                metrics.BLOCKS_COMMITTED.inc()
                metrics.TRANSACTIONS_COMMITTED.inc(len(built.block.transactions))
                metrics.BLOCK_HEIGHT.set(built.block.number)
            metrics.MEMPOOL_SIZE.set(len(self.backend.mempool))
            if len(self.backend.mempool):
                self._wake.set()


def build_rpc(backend: Backend, settings: NodeSettings) -> Any:
    """The ASGI app serving every namespace this node offers."""
    filters = FilterManager(backend)
    subscriptions = SubscriptionManager(backend)
    methods: dict[str, Callable[..., Any]] = {}
    for namespace in (
        EthAPI(backend, filters, subscriptions, settings.signer),
        NetAPI(backend),
        Web3API(),
        *( [DevAPI(backend)] if settings.dev_methods else [] ),
    ):
        methods.update(namespace.methods())
    if not settings.produce_blocks:
        # A read-only node: nothing it admits would ever be included.
        for name in ("eth_sendRawTransaction", "eth_sendTransaction"):
            methods.pop(name, None)
    dispatcher = Dispatcher(methods, batch_limit=settings.batch_limit)
    app = create_app(
        dispatcher,
        cors_origins=list(settings.cors_origins),
        max_request_bytes=settings.max_request_bytes,
        on_disconnect=subscriptions.drop_connection,
    )
    return app


async def run_node(settings: NodeSettings) -> None:
    """Run until SIGINT/SIGTERM. Owns the chain store for the whole run."""
    store = ChainStore(settings.data_dir, settings.genesis)
    try:
        backend = Backend(
            store,
            coinbase=settings.coinbase,
            mempool_limits=settings.mempool,
            gas_cap=settings.gas_cap,
        )
        metrics.BLOCK_HEIGHT.set(backend.head.block_number)
        if settings.metrics_port is not None:
            metrics.start_metrics_server(settings.metrics_host, settings.metrics_port)
        app = build_rpc(backend, settings)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                if settings.produce_blocks:
                    await nursery.start(BlockProducer(backend, settings.block_period).run)
                if settings.rpc_enabled:
                    await nursery.start(serve_rpc, app, settings.rpc_host, settings.rpc_port)
                log.info(
                    "node ready",
                    rpc=f"http://{settings.rpc_host}:{settings.rpc_port}",
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
