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

CONSENSUS_ROUND = Gauge("settle_consensus_round", "Consensus round at the current height (0 when healthy)")
ROUND_CHANGES = Counter("settle_consensus_round_changes_total", "Round changes (a proposer failed or was slow)")
COMMIT_LATENCY = Histogram(
    "settle_consensus_commit_seconds", "Time from the start of a height to its commit",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60),
)
BLOCKS_REJECTED = Counter("settle_consensus_blocks_rejected_total", "Proposed blocks that failed validation")
CONSENSUS_MESSAGES_REJECTED = Counter(
    "settle_consensus_messages_rejected_total", "Consensus messages with a bad encoding or signature"
)
EQUIVOCATIONS = Counter("settle_consensus_equivocations_total", "Conflicting messages seen from one validator")
PEERS = Gauge("settle_p2p_peers", "Connected validator peers")
SYNCED_BLOCKS = Counter("settle_sync_blocks_total", "Blocks imported by block sync")


class MetricsListenFailed(Exception):
    """The metrics server could not listen on its configured address (port in use, address not local)."""


def start_metrics_server(host: str, port: int) -> None:
    """Serve /metrics from a daemon thread owned by prometheus_client.

    Raises :class:`MetricsListenFailed` if it cannot bind.
    """
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise MetricsListenFailed(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
