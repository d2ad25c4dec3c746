"""Prometheus metrics, exported on their own port when ``[metrics] enabled``."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

BLOCK_HEIGHT = Gauge("settle_block_height", "Number of the latest committed block")
BLOCKS_COMMITTED = Counter("settle_blocks_committed_total", "Blocks committed by this node")
TRANSACTIONS_COMMITTED = Counter("settle_transactions_committed_total", "Transactions in committed blocks")
BLOCK_BUILD_SECONDS = Histogram(
    "settle_block_build_seconds", "Time to execute and commit one block",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MEMPOOL_SIZE = Gauge("settle_mempool_transactions", "Transactions waiting in the mempool")


def start_metrics_server(host: str, port: int) -> None:
    """Serve /metrics from a daemon thread owned by prometheus_client."""
    start_http_server(port, addr=host)
