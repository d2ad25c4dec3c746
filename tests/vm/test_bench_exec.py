"""``settle bench exec`` end to end on a tiny workload: every engine agrees, the report has its fields.

The figures are not checked (speed is the benchmark's business); the engines'
results are: the benchmark raises if any engine's roots, receipts or gas differ.
"""
import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_exec.py"


def _bench_exec():
    spec = importlib.util.spec_from_file_location("bench_exec_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_engine_runs_the_same_blocks_and_the_report_has_the_ratio() -> None:
    bench = _bench_exec()
    report = bench.measure(blocks=1, txs_per_block=6, repeats=1, workloads=("erc20", "storage"), profile=False)
    assert set(report["workloads"]["erc20"]["engines"]) == set(bench.ENGINES)
    for key in ("stock_erc20_per_s", "settle_erc20_per_s", "settle_import_senders_known_erc20_per_s", "ratio"):
        assert report[key] > 0
    assert report["workloads"]["storage"]["transactions_per_run"] == 6
