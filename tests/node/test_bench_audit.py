"""`settle bench audit` at a small size: it builds, audits both ways and writes the figures it promises."""
from __future__ import annotations

import json

from node.bench_scripts import load_bench_script


def test_bench_audit_writes_its_figures(tmp_path):
    out = tmp_path / "audit.json"
    result = load_bench_script("bench_audit").main(blocks=20, tx_every=5, out=out, repeats=2)
    written = json.loads(out.read_text())
    assert written == result
    assert written["blocks"] == 20 and written["transactions"] == 4
    assert written["cert_blocks_per_s"] > 0 and written["reexec_blocks_per_s"] > 0
    for mode in ("cert", "reexec"):
        spread = written[f"{mode}_blocks_per_s_spread"]
        assert spread["min"] <= written[f"{mode}_blocks_per_s"] == spread["median"] <= spread["max"]
        assert written[f"{mode}_cpu_ms_per_block"] > 0
