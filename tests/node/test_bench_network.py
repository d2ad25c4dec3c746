"""``settle bench network``'s arithmetic: the py-spy stack categoriser and CPU milliseconds per committed tx."""
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
    # Gossip that signs a peer record through generic multiaddr/base58 frames is gossip.
    (("publish (libp2p/pubsub/gossipsub.py:1007)", "env_to_send_in_RPC (peerstore.py:92)",
      "get_addrs (libp2p/host/basic_host.py:512)", "b58decode (base58/__init__.py:124)"), "gossip"),
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
    node_a = Counter({"gossip": 6, "idle": 2})
    node_b = Counter({"gossip": 2, "execution": 2})
    breakdown = bench.breakdown_of([node_a, node_b], [6.0, 3.0])
    assert breakdown["samples"] == 12
    assert breakdown["percent"]["gossip"] == pytest.approx(66.7)
    assert breakdown["percent"]["idle"] == pytest.approx(16.7)
    assert breakdown["per_validator_percent"][1]["execution"] == 50.0
    # Node a: all 6 ms/tx to gossip (idle gets none); node b: 1.5 to gossip, 1.5 to execution.
    assert breakdown["ms_per_tx"]["gossip"] == pytest.approx(7.5)
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
