"""Validator-network throughput and latency: ERC-20 transfers through JSON-RPC.

For each configuration (4 validators with 1 s and 200 ms block periods, each
validator its own process on this machine, libp2p on 127.0.0.1) and for
``settle node dev`` as the baseline in the same run:

1. start the nodes, deploy SettleTestToken from dev account 0 and give the
   other nine dev accounts tokens (ten senders, so no sender's pending limit
   is the bottleneck);
2. **rising load**: offer pre-signed ``transfer`` transactions at a fixed rate
   (each sender bound to one node's JSON-RPC endpoint, the senders spread over
   all nodes) for ``--seconds`` per
   level, doubling the rate until the network commits less than 80 % of what is
   offered. A level's TPS is its transactions divided by the time from its
   first submission to its last commit; the best level's TPS is the
   saturation figure;
3. **latency at half of saturation**: offer 50 % of the saturation rate and
   report submit-to-final latency p50 and p99. "Final" is the moment a poller
   (every 20 ms) first sees the transaction in a committed block of node 0; a
   committed block is final, with its certificate, the moment it is written.

Writes ``bench-results/network.json`` (``runs``: validators, block_period_ms,
tps, latency_p50_ms, latency_p99_ms; ``dev_tps`` for the baseline). Figures
are printed and written, never asserted.

    python scripts/bench_network.py [--seconds 6] [--periods 1000,200] [--validators 4]
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

from node.bench_scripts import write_bench_result  # noqa: E402  (needs REPO on the path)

DEFAULT_OUT = REPO / "bench-results" / "network.json"
SENDERS = 10
POLL_S = 0.02
SATURATED = 0.8
TOKEN_SUPPLY = 10**27
FIRST_RATE = 50
MAX_RATE = 3200


class BenchError(Exception):
    """The nodes could not be started or did not commit the workload."""


@dataclass
class Level:
    offered_tps: float
    sent: int
    committed: int
    tps: float
    latency_p50_ms: float
    latency_p99_ms: float


@dataclass
class Run:
    name: str
    validators: int
    block_period_ms: int
    tps: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_rate_tps: float = 0.0
    levels: list[Level] = field(default_factory=list)


class Client:
    """Keep-alive JSON-RPC sessions, one per endpoint."""

    def __init__(self, urls: list[str]) -> None:
        import requests

        self.urls = urls
        self.sessions = [requests.Session() for _ in urls]

    def call(self, index: int, method: str, params: list) -> Any:
        response = self.sessions[index].post(
            self.urls[index], json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=60)
        body = response.json()
        if "error" in body:
            raise BenchError(f"{method} on {self.urls[index]}: {body['error']}")
        return body["result"]


class CommitWatcher(threading.Thread):
    """Records when each transaction hash first appears in a committed block."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = Client([url])
        self.seen: dict[str, float] = {}
        self.stop_event = threading.Event()
        self.next_block = int(self.client.call(0, "eth_blockNumber", []), 16) + 1

    def run(self) -> None:
        while not self.stop_event.is_set():
            head = int(self.client.call(0, "eth_blockNumber", []), 16)
            while self.next_block <= head:
                block = self.client.call(0, "eth_getBlockByNumber", [hex(self.next_block), False])
                now = time.monotonic()
                for tx_hash in block["transactions"]:
                    self.seen.setdefault(tx_hash, now)
                self.next_block += 1
            time.sleep(POLL_S)


class Workload:
    def __init__(self, client: Client, chain_id: int) -> None:
        from eth_account import Account

        from node.dev_accounts import DevSigner

        self.client = client
        self.chain_id = chain_id
        self.accounts = [Account.from_key(bytes(a.key)) for a in DevSigner.from_mnemonic().accounts[:SENDERS]]
        self.nonces = [int(client.call(0, "eth_getTransactionCount", [a.address, "latest"]), 16)
                       for a in self.accounts]
        self.token: str = ""

    def _sign(self, sender: int, to: str | None, data: bytes, gas: int) -> bytes:
        fields = {"type": 2, "chainId": self.chain_id, "nonce": self.nonces[sender], "value": 0, "gas": gas,
                  "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "data": data}
        if to is not None:
            fields["to"] = to
        self.nonces[sender] += 1
        return bytes(self.accounts[sender].sign_transaction(fields).raw_transaction)

    def _send_and_wait(self, raws: list[bytes]) -> list[dict]:
        hashes = [self.client.call(0, "eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws]
        receipts = []
        deadline = time.monotonic() + 120
        for tx_hash in hashes:
            while (receipt := self.client.call(0, "eth_getTransactionReceipt", [tx_hash])) is None:
                if time.monotonic() > deadline:
                    raise BenchError(f"no receipt for set-up transaction {tx_hash}")
                time.sleep(0.05)
            if receipt["status"] != "0x1":
                raise BenchError(f"set-up transaction failed: {receipt}")
            receipts.append(receipt)
        return receipts

    def set_up(self) -> None:
        from eth_abi import encode

        from contracts.compiler import load_artifact

        artifact = load_artifact("SettleTestToken")
        constructor = encode(["string", "string", "uint256"], ["Settle Bench Token", "SBT", TOKEN_SUPPLY])
        deploy = self._sign(0, None, artifact.bytecode + constructor, 3_000_000)
        (receipt,) = self._send_and_wait([deploy])
        self.token = receipt["contractAddress"]
        share = TOKEN_SUPPLY // (2 * SENDERS)
        self._send_and_wait([self._sign(0, self.token, _transfer(a.address, share), 100_000)
                             for a in self.accounts[1:]])

    def sign_transfers(self, count: int) -> list[bytes]:
        recipient = "0x" + "77" * 20
        return [self._sign(i % SENDERS, self.token, _transfer(recipient, 1), 60_000) for i in range(count)]


def _transfer(to: str, amount: int) -> bytes:
    from eth_abi import encode
    from eth_hash.auto import keccak

    return keccak(b"transfer(address,uint256)")[:4] + encode(["address", "uint256"], [to, amount])


def offer(client: Client, workload: Workload, watcher: CommitWatcher, rate: float, seconds: float) -> Level:
    """Submit at ``rate`` for ``seconds`` (senders spread over endpoints), then wait for the commits."""
    count = max(1, int(rate * seconds))
    raws = workload.sign_transfers(count)
    submitted: dict[str, float] = {}
    start = time.monotonic()
    for index, raw in enumerate(raws):
        due = start + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        # Each sender talks to one node, as a client does: its nonces arrive there in order.
        endpoint = (index % SENDERS) % len(client.urls)
        tx_hash = client.call(endpoint, "eth_sendRawTransaction", ["0x" + raw.hex()])
        submitted[tx_hash] = time.monotonic()
    deadline = time.monotonic() + max(30.0, count / 20)
    while time.monotonic() < deadline and not all(h in watcher.seen for h in submitted):
        time.sleep(0.05)
    committed = {h: watcher.seen[h] for h in submitted if h in watcher.seen}
    if not committed:
        raise BenchError(f"nothing committed at {rate:.0f} tx/s")
    latencies = sorted((committed[h] - submitted[h]) * 1000 for h in committed)
    elapsed = max(committed.values()) - start
    return Level(
        offered_tps=rate, sent=count, committed=len(committed), tps=len(committed) / elapsed,
        latency_p50_ms=statistics.median(latencies),
        latency_p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    )


def measure(run: Run, urls: list[str], seconds: float, console: Any) -> Run:
    client = Client(urls)
    workload = Workload(client, int(client.call(0, "eth_chainId", []), 16))
    workload.set_up()
    watcher = CommitWatcher(urls[0])
    watcher.start()
    try:
        rate = FIRST_RATE
        while rate <= MAX_RATE:
            level = offer(client, workload, watcher, rate, seconds)
            run.levels.append(level)
            console.print(f"[dim]{run.name}: offered {rate:.0f}/s -> {level.tps:.1f} TPS, "
                          f"p50 {level.latency_p50_ms:.0f} ms, p99 {level.latency_p99_ms:.0f} ms[/dim]")
            if level.tps < SATURATED * rate or level.committed < level.sent:
                break
            rate *= 2
            time.sleep(1.0)  # let the pool drain between levels
        run.tps = max(level.tps for level in run.levels)
        time.sleep(2.0)
        half = offer(client, workload, watcher, max(1.0, run.tps / 2), seconds)
        run.latency_rate_tps = half.offered_tps
        run.latency_p50_ms = half.latency_p50_ms
        run.latency_p99_ms = half.latency_p99_ms
        console.print(f"[dim]{run.name}: at {half.offered_tps:.0f}/s (half of saturation): "
                      f"p50 {half.latency_p50_ms:.0f} ms, p99 {half.latency_p99_ms:.0f} ms[/dim]")
    finally:
        watcher.stop_event.set()
        watcher.join(5)
    return run


def run_network(validators: int, period_ms: int, seconds: float, console: Any) -> Run:
    from tests.e2e.network import Network

    with tempfile.TemporaryDirectory(prefix="settle-bench-network-") as tmp:
        net = Network(Path(tmp) / "net", validators, period_ms)
        try:
            net.start_all()
            net.wait_for_height(1, timeout=60)
            run = Run(f"{validators} validators, {period_ms} ms", validators, period_ms)
            return measure(run, [node.url for node in net.nodes], seconds, console)
        finally:
            net.stop_all()


def run_dev(period_ms: int, seconds: float, console: Any) -> Run:
    from tests.e2e.node_process import DevNode

    with tempfile.TemporaryDirectory(prefix="settle-bench-dev-") as tmp:
        node = DevNode(Path(tmp) / "chain", block_period=period_ms / 1000).start(timeout=60)
        try:
            return measure(Run(f"dev, {period_ms} ms", 1, period_ms), [node.url], seconds, console)
        finally:
            node.stop()


def main(seconds: float = 6.0, periods: tuple[int, ...] = (1000, 200), validators: int = 4,
         out: Path | str | None = DEFAULT_OUT) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    runs = [run_network(validators, period, seconds, console) for period in periods]
    dev = run_dev(200, seconds, console)

    table = Table(title="ERC-20 transfers through JSON-RPC on a local validator network")
    for column in ("configuration", "saturation TPS", "offered at half", "p50 ms", "p99 ms", "vs dev"):
        table.add_column(column, justify="right")
    for run in [*runs, dev]:
        table.add_row(run.name, f"{run.tps:.1f}", f"{run.latency_rate_tps:.0f}/s", f"{run.latency_p50_ms:.0f}",
                      f"{run.latency_p99_ms:.0f}", f"{run.tps / dev.tps:.2f}" if dev.tps else "-")
    console.print(table)
    result = {
        "benchmark": "ERC-20 transfers through JSON-RPC, rising offered load; latency at half of saturation",
        "machine_cores": _cores(),
        "seconds_per_level": seconds,
        "runs": [asdict(run) for run in runs],
        "dev_tps": dev.tps,
        "dev": asdict(dev),
        "ratios_vs_dev": [run.tps / dev.tps if dev.tps else None for run in runs],
    }
    write_bench_result(result, out, console)
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of offered load per level")
    parser.add_argument("--periods", default="1000,200", help="block periods in ms, comma-separated")
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    sys.exit(main(args.seconds, tuple(int(p) for p in args.periods.split(",")), args.validators, args.out))
