"""``settle bench matching`` on a tiny workload: the report has its figures, and a wrong engine fails it."""
import json
from pathlib import Path

import pytest

from node.bench_scripts import load_bench_script

FIGURES = ("native_orders_per_s", "python_orders_per_s", "ratio", "evm_orders_per_s", "latency_p50_us",
           "latency_p99_us", "evm_raw_orders_per_s")


def test_the_report_has_every_figure(tmp_path: Path) -> None:
    bench = load_bench_script("bench_matching")
    bench.main(commands=3_000, python_commands=1_000, repeats=1, latency_commands=500, evm_blocks=1,
               out=tmp_path / "matching.json")
    report = json.loads((tmp_path / "matching.json").read_text())
    for key in FIGURES:
        assert report[key] > 0, key
    state = report["state_commitment"]
    assert state["resting_orders"] > 0 and state["commit_serialise_and_hash_us"] > 0
    assert state["rollback_one_command_call_us"] > 0
    assert report["evm_exchange"]["fills_settled"] > 0


def test_a_reference_that_disagrees_fails_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load_bench_script("bench_matching")
    import vm.matching

    honest = vm.matching.ReferenceEngine

    class Skewed(honest):
        def execute(self, caller, book, commands):
            events, fills, levels = super().execute(caller, book, commands)
            return events[:-64], fills, levels

    monkeypatch.setattr(vm.matching, "ReferenceEngine", Skewed)
    with pytest.raises(SystemExit, match="differ"):
        bench.measure_engines(1_000, 512, 1)
