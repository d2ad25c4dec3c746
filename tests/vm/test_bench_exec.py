"""``settle bench exec`` end to end on a tiny workload: every engine agrees, the report has its fields.

The figures are not checked (speed is the benchmark's business); the engines'
results are: the benchmark raises if any engine's roots, receipts or gas differ.
"""
from node.bench_scripts import load_bench_script


def _bench_exec():
    return load_bench_script("bench_exec")


def test_every_engine_runs_the_same_blocks_and_the_report_has_the_ratio() -> None:
    bench = _bench_exec()
    report = bench.measure(blocks=1, txs_per_block=6, repeats=1, workloads=("erc20", "storage"), profile=False)
    assert set(report["workloads"]["erc20"]["engines"]) == set(bench.ENGINES)
    for key in ("stock_erc20_per_s", "settle_erc20_per_s", "settle_import_senders_known_erc20_per_s",
                "settle_build_senders_known_erc20_per_s", "ratio"):
        assert report[key] > 0
    assert report["workloads"]["storage"]["transactions_per_run"] == 6
    assert report["gc_setup_frozen"] is True


def test_the_harness_objects_are_frozen_only_while_measuring() -> None:
    import gc

    bench = _bench_exec()
    frozen_during = []
    run = bench.ENGINES["settle build"]
    try:
        bench.ENGINES["settle build"] = lambda *args: frozen_during.append(gc.get_freeze_count()) or run(*args)
        report = bench.measure(blocks=1, txs_per_block=3, repeats=1, workloads=("eth",), profile=False)
        assert frozen_during[0] > 0 and report["gc_setup_frozen"] is True
        frozen_during.clear()
        report = bench.measure(blocks=1, txs_per_block=3, repeats=1, workloads=("eth",), profile=False,
                               gc_freeze=False)
        assert frozen_during == [0] and report["gc_setup_frozen"] is False
    finally:
        bench.ENGINES["settle build"] = run
    assert gc.get_freeze_count() == 0
