"""``settle bench soak`` for a few seconds on a real 4-validator network: it runs through and writes its JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.bench_scripts import load_bench_script

pytestmark = pytest.mark.e2e


def test_a_short_soak_commits_what_it_sends_and_reports_memory_per_node(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    assert load_bench_script("bench_soak").main(minutes=0.25, rate=5, out=out) == 0
    result = json.loads(out.read_text())
    assert result["sent"] > 0 and result["lost"] == 0 and result["committed"] == result["sent"]
    assert len(result["nodes"]) == 4
    for node in result["nodes"]:
        assert node["rss_mb_start"] > 0 and node["rss_mb_end"] > 0 and node["anon_mb_end"] > 0
    assert result["cpu_ms_per_committed_tx"] > 0
