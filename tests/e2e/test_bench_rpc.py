"""``settle bench rpc`` on a tiny workload against a real dev node: both batch sizes, CPU per transfer, its JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.bench_scripts import load_bench_script

pytestmark = pytest.mark.e2e


def test_one_request_each_and_batches_report_tps_and_node_cpu(tmp_path: Path) -> None:
    bench = load_bench_script("bench_rpc")
    out = tmp_path / "rpc.json"
    assert bench.run(transfers=30, baseline=False, repeats=1, out=out, batches=(1, 10), block_exec=False) == 0
    result = json.loads(out.read_text())
    # The original keys keep their meaning: one request per transfer.
    assert result["settle_tps"] == result["settle_runs"][0] > 0
    assert result["settle_details"][0]["batch"] == 1
    assert [mode["batch"] for mode in result["modes"]] == [1, 10]
    for mode in result["modes"]:
        run = mode["settle_details"][0]
        assert run["batch"] == mode["batch"] and run["tps"] > 0 and run["retries"] >= 0
        assert run["node_cpu_ms_per_tx"] > 0 and run["client_cpu_ms_per_tx"] > 0
        assert mode["settle_cpu_ms_per_tx"]["median"] == run["node_cpu_ms_per_tx"]
        assert mode["baseline_tps"] is None and mode["ratio"] is None
    assert result["settle_cpu_ms_per_tx"] == result["modes"][0]["settle_cpu_ms_per_tx"]

