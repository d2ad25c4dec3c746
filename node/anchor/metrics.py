"""Prometheus metrics of the anchoring duty (served with the node's other metrics)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge

LAST_ANCHORED_HEIGHT = Gauge("settle_anchor_last_anchored_height",
                             "Highest checkpoint whose Bitcoin anchor is recorded on Settle")
PENDING_ANCHORS = Gauge("settle_anchor_pending_checkpoints",
                        "Checkpoints reached on Settle whose anchor is not recorded yet")
IN_FLIGHT = Gauge("settle_anchor_in_flight_transactions",
                  "Anchor transactions this validator sent that are not recorded yet")
BITCOIN_RPC_ERRORS = Counter("settle_anchor_bitcoin_rpc_errors_total",
                             "Failed Bitcoin RPC exchanges, by kind (unreachable, auth, wallet, funds, network, rpc)",
                             ["kind"])
ANCHORS_SENT = Counter("settle_anchor_transactions_sent_total", "Anchor transactions this validator sent to Bitcoin")
RECORDS_SUBMITTED = Counter("settle_anchor_records_submitted_total",
                            "Record transactions this validator submitted to the anchor registry")
