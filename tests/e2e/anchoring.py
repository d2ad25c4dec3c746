"""Helpers for the anchoring end-to-end tests: validator configs with an [anchor] section, Bitcoin-side counts."""
from __future__ import annotations

import re
import tomllib
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import tomli_w

from node.anchor.bitcoin_ops import block_anchors
from tests.bitcoin_node import RPC_PASSWORD, RPC_USER, LitecoinNode
from tests.e2e.network import ValidatorProcess


def configure_anchor(node: ValidatorProcess, litecoin: LitecoinNode, wallet: str, *, enabled: bool = True,
                     password: str = RPC_PASSWORD, metrics_port: int | None = None, **overrides: Any) -> None:
    """Write an [anchor] section (regtest, fast polling) into a validator's config.toml."""
    path = node.node.config_path
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    document["anchor"] = {
        "enabled": enabled, "rpc_url": litecoin.url, "rpc_user": RPC_USER, "rpc_password": password,
        "wallet": wallet, "network": "regtest", "fee_rate": 20.0, "interval_blocks": 10, "confirmations": 2,
        "duty_timeout_seconds": 20.0, "poll_seconds": 0.5, "rpc_timeout_seconds": 10.0,
        "scan_depth_blocks": 5000, **overrides,
    }
    if metrics_port is not None:
        document["metrics"] = {"enabled": True, "host": "127.0.0.1", "port": metrics_port}
    path.write_text(tomli_w.dumps(document), encoding="utf-8")


def bitcoin_anchor_counts(litecoin: LitecoinNode, chain_id: int) -> Counter[int]:
    """How many Bitcoin transactions (best chain and mempool) anchor each checkpoint height of ``chain_id``."""
    rpc = litecoin.rpc()
    counts: Counter[int] = Counter()
    block_hash: str | None = rpc.call("getbestblockhash")
    while block_hash:
        block, anchors = block_anchors(rpc, block_hash)
        counts.update(a.payload.height for a in anchors if a.payload.chain_id == chain_id)
        block_hash = block.get("previousblockhash")
    from node.anchor.bitcoin_ops import anchor_in

    for txid in rpc.call("getrawmempool"):
        anchor = anchor_in(bytes.fromhex(rpc.call("getrawtransaction", txid)))
        if anchor is not None and anchor.payload.chain_id == chain_id:
            counts[anchor.payload.height] += 1
    return counts


def metric(port: int, name: str, labels: str = "") -> float:
    """One sample of the node's Prometheus metrics (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", re.MULTILINE)
    match = pattern.search(text)
    return float(match.group(1)) if match else 0.0


def log_count(path: Path, text: str) -> int:
    return path.read_text(errors="replace").count(text) if path.exists() else 0
