"""``settle bench network``'s arithmetic: the py-spy stack categoriser, CPU ms per committed tx, the load
plan (ticks and batches) and the saturation search."""
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from node.bench_scripts import load_bench_script

ROOT = "_run_module_as_main (<frozen runpy>:198);<module> (node/cli.py:709);run (trio/_core/_run.py:2532)"


def _bench():
    return load_bench_script("bench_network")


def _stack(*frames: str) -> str:
    return ";".join((ROOT, *frames))


@pytest.mark.parametrize(("frames", "category"), [
    # The innermost matching frame decides: a trio socket send is RPC under hypercorn, transport under libp2p.
    (("handle (hypercorn/trio/tcp_server.py:60)", "send_all (trio/_highlevel_socket.py:123)",
      "wrapper (trio/_socket.py:476)"), "rpc"),
    (("push_msg (libp2p/pubsub/pubsub.py:1795)", "write (libp2p/stream_muxer/yamux/yamux.py:200)",
      "write (libp2p/io/trio.py:34)", "send_all (trio/_highlevel_socket.py:123)"), "p2p transport"),
    # The direct streams and what is left of libp2p under them are transport; a signed peer record too.
    (("run (node/p2p/direct.py:200)", "flush (node/p2p/outbox.py:80)", "write (node/p2p/muxer.py:50)",
      "write_msg (libp2p/security/noise/io.py:40)"), "p2p transport"),
    (("identify (libp2p/identity/identify/identify.py:90)", "env_to_send_in_RPC (peerstore.py:92)",
      "b58decode (base58/__init__.py:124)"), "p2p transport"),
    # Compact proposals are their own category, even when the engine calls them.
    (("feed (node/engine.py:300)", "fill (node/compact_block.py:60)"), "proposals"),
    (("feed (node/engine.py:300)", "fill (node/compact_block.py:60)", "recover (vm/senders.py:40)"),
     "decode and recovery"),
    # Execution inside the engine is execution; the engine's own work is consensus.
    (("feed (node/engine.py:300)", "execute_block (vm/block_import.py:80)", "apply (eth/vm/state.py:40)"),
     "execution"),
    (("feed (node/engine.py:300)", "on_message (consensus/machine.py:120)"), "consensus"),
    # Sender recovery called by the mempool, called by the RPC handler: recovery.
    (("send_raw_transaction (node/rpc/api.py:90)", "add (node/mempool.py:150)",
      "recover (vm/senders.py:40)"), "decode and recovery"),
    (("send_raw_transaction (node/rpc/api.py:90)", "add (node/mempool.py:150)"), "mempool"),
    (("put (node/store.py:210)", "write_batch (vm/leveldb.py:33)"), "persistence"),
    (("poll (node/rpc/filters.py:70)",), "notifications"),
    (("unrolled_run (trio/_core/_run.py:2866)", "get_events (trio/_core/_io_epoll.py:243)"), "idle"),
    (("unrolled_run (trio/_core/_run.py:2866)",), "other"),
])
def test_a_stack_takes_the_category_of_its_innermost_matching_frame(frames: tuple[str, ...], category: str) -> None:
    assert _bench().categorise_stack(_stack(*frames)) == category


def test_raw_output_is_counted_per_category_and_stray_lines_are_ignored() -> None:
    raw = "\n".join([
        _stack("feed (node/engine.py:300)") + " 3",
        _stack("recover (vm/senders.py:40)") + " 2",
        "Base58 encoding",  # py-spy copies multi-line names verbatim; a line without a count is no sample
        _stack("feed (node/engine.py:300)") + " 1",
        "",
    ])
    assert _bench().count_categories(raw) == Counter({"consensus": 4, "decode and recovery": 2})


def test_cpu_per_committed_transaction() -> None:
    cpu = _bench().cpu_per_tx([2.0, 1.0, 1.0, 0.5], 0.25, 500)
    assert cpu["per_validator"] == [4.0, 2.0, 2.0, 1.0]
    assert cpu["total"] == 9.0
    assert cpu["load_generator"] == 0.5
    assert _bench().cpu_per_tx([1.0], 0.1, 0) is None


def test_breakdown_shares_and_spreads_each_nodes_cpu_over_its_busy_samples() -> None:
    bench = _bench()
    node_a = Counter({"p2p transport": 6, "idle": 2})
    node_b = Counter({"p2p transport": 2, "execution": 2})
    breakdown = bench.breakdown_of([node_a, node_b], [6.0, 3.0])
    assert breakdown["samples"] == 12
    assert breakdown["percent"]["p2p transport"] == pytest.approx(66.7)
    assert breakdown["percent"]["idle"] == pytest.approx(16.7)
    assert breakdown["per_validator_percent"][1]["execution"] == 50.0
    # Node a: all 6 ms/tx to transport (idle gets none); node b: 1.5 to transport, 1.5 to execution.
    assert breakdown["ms_per_tx"]["p2p transport"] == pytest.approx(7.5)
    assert breakdown["ms_per_tx"]["execution"] == pytest.approx(1.5)
    assert breakdown["ms_per_tx"]["idle"] == 0.0
    assert sum(breakdown["ms_per_tx"].values()) == pytest.approx(9.0)
    assert set(breakdown["percent"]) == set(bench.CATEGORY_NAMES)
    assert "ms_per_tx" not in bench.breakdown_of([node_a], None)


def test_a_process_py_spy_cannot_sample_gives_no_breakdown_and_says_why(tmp_path: Path) -> None:
    bench = _bench()
    if bench.py_spy_path() is None:
        pytest.fail("py-spy is not installed: it is pinned in setup.cfg's test extra")
    not_python = subprocess.Popen(["sleep", "60"])
    try:
        profiler = bench.Profiler([not_python.pid], tmp_path, True)
        profiler.start()
        profiler.processes[0].wait(timeout=60)  # py-spy gives up on its own
        assert profiler.stop() is None
        assert profiler.unavailable is not None
        assert f"could not sample pid {not_python.pid}" in profiler.unavailable
        profiler.start()  # later windows do not try again
        assert profiler.processes == []
    finally:
        not_python.kill()
        not_python.wait()


def test_no_profile_takes_no_samples(tmp_path: Path) -> None:
    profiler = _bench().Profiler([1], tmp_path, False)
    profiler.start()
    assert profiler.stop() is None
    assert profiler.unavailable == "--no-profile"


def test_every_transaction_is_due_by_the_last_tick_and_ticks_send_what_fell_due() -> None:
    bench = _bench()
    # 500 at 100/s in 25 ms ticks: 2.5 due per tick; the last two (due at 4.98 s and 4.99 s) still go out.
    due = bench.due_counts(500, 100.0, 0.025)
    assert due[0] == 1  # tick 0 sends the first transaction
    assert due[-1] == 500
    assert due[:4] == [1, 3, 6, 8]
    assert all(later >= earlier for earlier, later in zip(due, due[1:], strict=False))
    assert len(due) == 201  # the last transaction is due at 4.99 s: tick 200 at 5.0 s
    for count, rate in ((750, 150.0), (7500, 1500.0), (333, 66.6667), (1, 5.0), (29, 5.85)):
        assert bench.due_counts(count, rate, 0.025)[-1] == count
    assert bench.due_counts(0, 100.0, 0.025) == []
    with pytest.raises(ValueError):
        bench.due_counts(10, 0.0, 0.025)


def test_a_ticks_transactions_for_one_endpoint_go_in_ordered_batches_within_the_batch_limit() -> None:
    bench = _bench()
    assert bench.plan_batches(list(range(250)), 100) == [list(range(100)), list(range(100, 200)),
                                                          list(range(200, 250))]
    assert bench.plan_batches([3, 7], 100) == [[3, 7]]
    assert bench.plan_batches([], 100) == []


def test_each_sender_is_bound_to_one_endpoint_and_the_endpoints_share_the_senders_evenly() -> None:
    bench = _bench()
    per_endpoint = Counter(bench.sender_endpoint(sender, 4) for sender in range(bench.SENDERS))
    assert set(per_endpoint) == {0, 1, 2, 3}
    assert max(per_endpoint.values()) == min(per_endpoint.values())
    assert {bench.sender_endpoint(sender, 1) for sender in range(bench.SENDERS)} == {0}


def test_the_saturation_search_rises_until_a_level_fails() -> None:
    bench = _bench()
    first = bench.next_rate([])
    assert first == bench.FIRST_RATE
    assert bench.next_rate([(first, True)]) == pytest.approx(first * 1.5)
    assert bench.next_rate([(first, True), (first * 1.5, True)]) == pytest.approx(first * 2.25)
    assert bench.next_rate([(first, True), (first * 1.5, False)]) is None
    assert bench.next_rate([(bench.MAX_RATE, True)]) is None


def test_the_saturation_search_goes_down_from_a_failing_start_and_stops_at_the_first_level_that_keeps_up() -> None:
    bench = _bench()
    first = bench.FIRST_RATE
    assert bench.next_rate([(first, False)]) == pytest.approx(first / 1.5)
    assert bench.next_rate([(first, False), (first / 1.5, False)]) == pytest.approx(first / 2.25)
    assert bench.next_rate([(first, False), (first / 1.5, True)]) is None
    assert bench.next_rate([(bench.MIN_RATE, False)]) is None


def test_a_level_keeps_up_only_if_it_commits_enough_and_leaves_nothing_behind() -> None:
    level = _bench().Level
    assert level(offered_tps=100, sent=1000, committed=1000, tps=85, latency_p50_ms=1, latency_p99_ms=2).ok
    assert not level(offered_tps=100, sent=1000, committed=1000, tps=75, latency_p50_ms=1, latency_p99_ms=2).ok
    refused_one = level(offered_tps=100, sent=1000, committed=999, tps=99, latency_p50_ms=1, latency_p99_ms=2,
                        refused=1)
    assert not refused_one.ok


def test_cpu_per_transaction_net_of_the_nodes_idle_cpu() -> None:
    # 10 s window, 500 committed: node a used 3 s with 100 ms/s idle (2 s for the load), node b 1.5 s with 50.
    cpu = _bench().cpu_per_tx([3.0, 1.5], 0.2, 500, [100.0, 50.0], 10.0)
    assert cpu["total"] == 9.0
    assert cpu["idle_ms_per_s"] == [100.0, 50.0]
    assert cpu["net_of_idle_per_validator"] == [4.0, 2.0]
    assert cpu["net_of_idle_total"] == 6.0
    assert "net_of_idle_total" not in _bench().cpu_per_tx([3.0], 0.2, 500)


def test_p2p_overrides_are_typed_and_bad_ones_refused() -> None:
    parse = _bench().parse_p2p_overrides
    assert parse(["compact_proposals=false", "max_frame_bytes=1024", "x=abc"]) == {
        "compact_proposals": False, "max_frame_bytes": 1024, "x": "abc"}
    with pytest.raises(ValueError):
        parse(["compact_proposals"])


def test_the_networks_p2p_settings_reach_every_validators_config(tmp_path: Path) -> None:
    from node.config import load_config
    from tests.e2e.network import Network

    network = Network(tmp_path / "net", 2, 200, p2p={"compact_proposals": False})
    for node in network.layout.nodes:
        config = load_config(node.config_path)
        assert config.p2p.compact_proposals is False
        assert config.p2p.bootstrap  # the rest of [p2p] is kept
    assert load_config(Network(tmp_path / "plain", 2, 200).layout.nodes[0].config_path).p2p.compact_proposals
