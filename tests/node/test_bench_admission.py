"""``settle bench admission`` on a tiny workload: both paths recover the same senders, the report has its fields."""
from pathlib import Path

import pytest

from node.bench_scripts import load_bench_script


def _bench():
    return load_bench_script("bench_admission")


def test_every_path_admits_the_same_senders_and_the_report_has_the_ratio(tmp_path: Path) -> None:
    bench = _bench()
    report = bench.main(count=30, repeats=1, out=tmp_path / "admission.json")
    assert set(report["per_core_s"]) == {"py-evm", "settle", "settle admission"}
    for key in ("py_evm_per_s", "settle_per_s", "settle_admission_per_s", "ratio", "import_ratio"):
        assert report[key] > 0
    assert set(report["import_per_core_s"]) == {"block decode", "block decode, mempool"}
    assert (tmp_path / "admission.json").exists()


def test_a_path_with_other_senders_fails_the_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench()
    honest = bench.engines

    def one_wrong():
        runs = honest()
        settle = runs["settle"]
        runs["settle"] = lambda raws: settle(raws)[:-1] + [b"\x00" * 20]
        return runs

    monkeypatch.setattr(bench, "engines", one_wrong)
    with pytest.raises(AssertionError, match="settle recovered other senders"):
        bench.measure(count=20, repeats=1)
