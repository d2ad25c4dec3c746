"""Soak: a local 4-validator network under steady ERC-20 load, watching memory, CPU, latency and stalls.

Starts four validators (each its own process, libp2p on 127.0.0.1, 1 s block period), deploys
SettleTestToken and spreads tokens over the senders (as ``bench_network``), then offers transfers at
``--rate`` per second for ``--minutes``, in windows of one minute (shorter for short runs). Every
five seconds a thread of its own samples each node's RSS (``/proc/<pid>/status``); CPU time
(user + system, psutil, as ``bench_network``) is read at the start and end of the load.

Writes ``bench-results/soak.json``:

* per node: RSS at start (after set-up), after warm-up (the first quarter of the run, at most
  10 minutes) and at the end, and ``rss_mb_per_hour_after_warmup`` (least-squares slope of the
  samples after warm-up); the same for anonymous memory alone (``anon_mb_*``, ``RssAnon``: the
  heaps), and the file-backed RSS at the end (``file_mb_end``, ``RssFile``: the shared libraries;
  LevelDB's table files were mapped and counted here until ``vm/leveldb_mmap.py``), so a leak on
  the heap shows in the anonymous slope;
* ``cpu_ms_per_committed_tx``: CPU time of all four nodes over the run divided by the
  transactions committed;
* per window: sent, committed, submit-to-final latency p50 and p99 ("final" is the moment a poller
  of node 0 first sees the transaction in a committed block);
* ``stalls``: gaps over 5 s between consecutive blocks seen by that poller;
* totals: sent, committed, lost (sent and never committed after a final drain).

Figures are printed and written, never asserted.

    python scripts/bench_soak.py [--minutes 60] [--rate 10]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from node.bench_scripts import load_bench_script, write_bench_result  # noqa: E402  (needs REPO on the path)

DEFAULT_OUT = REPO / "bench-results" / "soak.json"
VALIDATORS = 4
BLOCK_PERIOD_MS = 1000
SAMPLE_SECONDS = 5.0
STALL_SECONDS = 5.0
DRAIN_SECONDS = 60.0


@dataclass
class Window:
    start_s: float
    sent: int
    committed: int = 0
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None


@dataclass
class NodeMemory:
    index: int
    rss_mb_start: float = 0.0
    rss_mb_after_warmup: float = 0.0
    rss_mb_end: float = 0.0
    rss_mb_per_hour_after_warmup: float = 0.0
    anon_mb_start: float = 0.0
    anon_mb_end: float = 0.0
    anon_mb_per_hour_after_warmup: float = 0.0
    """The same slope for anonymous memory alone (the heaps: Python's, malloc's, LevelDB's caches)."""
    file_mb_end: float = 0.0
    """RSS of file-backed pages at the end: mostly LevelDB's table files, which it maps into memory
    to read; they grow with the database read, and the kernel takes them back under pressure."""
    cpu_seconds: float = 0.0
    samples: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the load started, RSS in MB)."""
    anon_samples: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the load started, anonymous RSS in MB)."""


def _rss_parts_mb(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon and RssFile of a process, in MB."""
    parts = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            parts[name] = int(value.split()[0]) / 1024
    return parts


def _slope_per_hour(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    xs, ys = [s for s, _ in samples], [mb for _, mb in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread * 3600


class RssSampler:
    """Samples every node's RSS each ``SAMPLE_SECONDS`` on its own thread.

    Sampling from the sending loop skipped samples while sends ran late and then took a burst at
    one moment, which weighted the slope fit towards those moments.
    """

    def __init__(self, memory: list[NodeMemory], pids: list[int], start: float) -> None:
        self.memory, self.pids, self.start = memory, pids, start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        now = time.monotonic()
        for node, pid in zip(self.memory, self.pids, strict=True):
            parts = _rss_parts_mb(pid)
            node.samples.append((now - self.start, parts.get("VmRSS", 0.0)))
            node.anon_samples.append((now - self.start, parts.get("RssAnon", 0.0)))
            node.file_mb_end = round(parts.get("RssFile", 0.0), 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_SECONDS)

    def start_sampling(self) -> None:
        self._thread.start()

    def halt(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def stop(self) -> None:
        """Stop and take the last sample."""
        self.halt()
        self.sample()


class BlockTimes:
    """Wraps bench_network's CommitWatcher: also records when each new block was first seen."""

    def __init__(self, watcher: Any) -> None:
        self.watcher = watcher
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = self.watcher.next_block
        while not self._stop.is_set():
            if self.watcher.next_block != last:
                self.times.extend([time.monotonic()] * (self.watcher.next_block - last))
                last = self.watcher.next_block
            time.sleep(0.05)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def soak(minutes: float, rate: float, console: Any) -> dict[str, Any]:
    from tests.e2e.network import Network

    network_bench = load_bench_script("bench_network")
    duration = minutes * 60
    window_seconds = min(60.0, duration / 5)
    warmup = min(600.0, duration / 4)
    with tempfile.TemporaryDirectory(prefix="settle-bench-soak-") as tmp:
        net = Network(Path(tmp) / "net", VALIDATORS, BLOCK_PERIOD_MS)
        try:
            net.start_all()
            net.wait_for_height(1, timeout=60)
            urls = [node.url for node in net.nodes]
            pids = [node.process.pid for node in net.nodes if node.process is not None]
            client = network_bench.Client(urls)
            workload = network_bench.Workload(client, int(client.call(0, "eth_chainId", []), 16))
            workload.set_up()
            watcher = network_bench.CommitWatcher(urls[0])
            watcher.start()
            blocks = BlockTimes(watcher)
            blocks.start()
            memory = [NodeMemory(index) for index in range(len(pids))]
            cpu_start = [network_bench.cpu_seconds(pid) for pid in pids]
            windows: list[Window] = []
            submitted: dict[str, tuple[float, int]] = {}
            start = time.monotonic()
            sampler = RssSampler(memory, pids, start)
            sampler.start_sampling()
            sent = 0
            count = max(1, int(rate * duration))
            raws = workload.sign_raw_transfers(count)
            try:
                for index, raw in enumerate(raws):
                    due = start + index / rate
                    while (now := time.monotonic()) < due:
                        time.sleep(min(due - now, 0.05))
                    window = int((time.monotonic() - start) // window_seconds)
                    while len(windows) <= window:
                        windows.append(Window(start_s=len(windows) * window_seconds, sent=0))
                    endpoint = network_bench.sender_endpoint(index % network_bench.SENDERS, len(urls))
                    tx_hash = client.call(endpoint, "eth_sendRawTransaction", ["0x" + raw.hex()])
                    submitted[tx_hash] = (time.monotonic(), window)
                    windows[window].sent += 1
                    sent += 1
                    if len(windows) > 1 and windows[-1].sent == 1:
                        elapsed_min = (windows[-2].start_s + window_seconds) / 60
                        console.print(f"[dim]{elapsed_min:.0f} min: sent {sent}, committed "
                                      f"{len(watcher.seen)}, RSS {[round(n.samples[-1][1]) for n in memory]} MB[/dim]")
                sampler.stop()
                end = time.monotonic()
                deadline = end + DRAIN_SECONDS
                while time.monotonic() < deadline and not all(h in watcher.seen for h in submitted):
                    time.sleep(0.1)
                cpu_end = [network_bench.cpu_seconds(pid) for pid in pids]
            finally:
                sampler.halt()
                watcher.stop_event.set()
                watcher.join(5)
                blocks.stop()
        finally:
            net.stop_all()

    latencies: dict[int, list[float]] = {}
    for tx_hash, (sent_at, window) in submitted.items():
        if tx_hash in watcher.seen:
            latencies.setdefault(window, []).append((watcher.seen[tx_hash] - sent_at) * 1000)
    for number, window_result in enumerate(windows):
        values = sorted(latencies.get(number, []))
        window_result.committed = len(values)
        if values:
            window_result.latency_p50_ms = round(statistics.median(values), 1)
            window_result.latency_p99_ms = round(values[min(len(values) - 1, int(len(values) * 0.99))], 1)
    for node, before, after in zip(memory, cpu_start, cpu_end, strict=True):
        node.cpu_seconds = round(after - before, 2)
        node.rss_mb_start = round(node.samples[0][1], 1)
        node.rss_mb_end = round(node.samples[-1][1], 1)
        after_warmup = [sample for sample in node.samples if sample[0] >= warmup]
        node.rss_mb_after_warmup = round(after_warmup[0][1] if after_warmup else node.rss_mb_end, 1)
        node.rss_mb_per_hour_after_warmup = round(_slope_per_hour(after_warmup), 2)
        node.anon_mb_start = round(node.anon_samples[0][1], 1)
        node.anon_mb_end = round(node.anon_samples[-1][1], 1)
        node.anon_mb_per_hour_after_warmup = round(
            _slope_per_hour([sample for sample in node.anon_samples if sample[0] >= warmup]), 2)
    committed = sum(1 for tx_hash in submitted if tx_hash in watcher.seen)
    gaps = [(round(b - start, 1), round(b - a, 2)) for a, b in zip(blocks.times, blocks.times[1:], strict=False)
            if b - a > STALL_SECONDS]
    cpu_total = sum(node.cpu_seconds for node in memory)
    return {
        "benchmark": "soak: ERC-20 transfers at a steady rate on a local 4-validator network",
        "minutes": minutes,
        "rate_tps": rate,
        "validators": VALIDATORS,
        "block_period_ms": BLOCK_PERIOD_MS,
        "warmup_seconds": warmup,
        "window_seconds": window_seconds,
        "sent": sent,
        "committed": committed,
        "lost": sent - committed,
        "cpu_ms_per_committed_tx": round(cpu_total * 1000 / committed, 2) if committed else None,
        "rss_mb_per_hour_after_warmup_max": max(node.rss_mb_per_hour_after_warmup for node in memory),
        "anon_mb_per_hour_after_warmup_max": max(node.anon_mb_per_hour_after_warmup for node in memory),
        "stalls_over_5s": [{"at_s": at, "gap_s": gap} for at, gap in gaps],
        "nodes": [{key: value for key, value in asdict(node).items() if key not in ("samples", "anon_samples")}
                  for node in memory],
        "rss_samples_mb": {node.index: [(round(t), round(mb, 1)) for t, mb in node.samples] for node in memory},
        "windows": [asdict(window) for window in windows],
    }


def main(minutes: float = 60.0, rate: float = 10.0, out: Path | str | None = DEFAULT_OUT) -> int:
    from rich.console import Console

    console = Console(width=140)
    result = soak(minutes, rate, console)
    for node in result["nodes"]:
        console.print(f"node{node['index']}: RSS {node['rss_mb_start']} -> {node['rss_mb_after_warmup']} (warm) -> "
                      f"{node['rss_mb_end']} MB; {node['rss_mb_per_hour_after_warmup']} MB/h after warm-up "
                      f"(anonymous {node['anon_mb_start']} -> {node['anon_mb_end']} MB, "
                      f"{node['anon_mb_per_hour_after_warmup']} MB/h; file-backed {node['file_mb_end']} MB); "
                      f"CPU {node['cpu_seconds']} s")
    console.print(f"sent {result['sent']}, committed {result['committed']}, lost {result['lost']}; "
                  f"{result['cpu_ms_per_committed_tx']} ms CPU per committed tx (4 nodes); "
                  f"stalls over 5 s: {len(result['stalls_over_5s'])}")
    write_bench_result(result, out, console)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0)
    arguments = parser.parse_args()
    sys.exit(main(arguments.minutes, arguments.rate))
