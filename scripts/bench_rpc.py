"""ERC-20 transfers/s through JSON-RPC: a Settle dev node vs Hardhat's node.

The workload is the same for both nodes, with the same Python client:

1. start a fresh node (Settle: ``settle node dev --block-period 0.2`` on a
   fresh temp data dir; baseline: ``hardhat node`` from scripts/hardhat, automine
   on), and wait until it answers ``eth_chainId``;
2. deploy SettleTestToken from dev account 0 (web3.py, a locally signed tx);
3. for each batch size (``--batches``, default 1 then 100), on the same node:
   pre-sign N type-2 ``transfer`` transactions from account 0 to 100 rotating
   recipients with eth-account (explicit nonces, gas 60,000; fees from the
   node: ``maxPriorityFeePerGas`` = ``eth_maxPriorityFeePerGas``,
   ``maxFeePerGas`` = 2 x max(latest base fee, ``eth_gasPrice``) + priority fee,
   i.e. 0 on Settle), untimed;
4. **timed**: send them with ``eth_sendRawTransaction`` as fast as the node
   answers, over one keep-alive HTTP session (``requests``, which web3.py's HTTP
   provider also uses): with batch size 1 one request per transfer, one after
   the other (the original figure); with a larger size, JSON-RPC batches of that
   many transfers (as ethers.js batches up to 100 requests), one batch after the
   other. Then poll ``eth_getTransactionReceipt`` for the last one every 10 ms.
   If the node refuses a transaction because its per-sender pending limit is
   full (Settle's mempool allows 1,000 per sender), the client waits 10 ms and
   resends it (in the next batch); the retries are counted and reported;
5. verify: every returned hash is the transaction's, spot-checked receipts
   (first, last and 8 more) have status 1, and after each run the recipients'
   balances (``balanceOf``) add up to all transfers so far, the sender's
   balance and nonce are right;
6. stop the node.

TPS = N / (time from the first send until the last receipt is available).
Beside it, the CPU time (user + system, psutil) of the node's process and its
children over the same window, per transfer, and the load generator's own CPU
per transfer: with one request per transfer the single-threaded client costs
about as much CPU as the node and, with the round trip, caps both nodes alike
at a few hundred TPS. Batches make the client cheap (about 0.02 ms per
transfer) for both nodes, so their figures are the nodes' own.

Hardhat answers the requests of a batch concurrently, so with automine a
sender's nonces arrive out of order and are refused ("Nonce too high"); for
batches Hardhat therefore mines on an interval (``evm_setAutomine false``,
``evm_setIntervalMining`` 200 ms, Settle's block period) and queues the
transactions in between, as Settle does.

Each repeat uses a fresh node per server; Settle and the baseline runs are
interleaved. Medians and spreads (min-max) over the repeats are printed and
written to ``bench-results/rpc.json``: the original keys (``settle_tps``,
``baseline_tps``, ``ratio``, …) for the first batch size, and per batch size
under ``modes``, with ``settle_cpu_ms_per_tx`` and ``baseline_cpu_ms_per_tx``.
The in-process block execution benchmark (scripts/bench_exec.py, 1 block of
1,000 transfers per repeat) runs in the same invocation and is reported under
``block_exec``. Figures are printed and written, never asserted.

    python scripts/bench_rpc.py [--transfers 2000] [--repeats 3] [--batches 1,100]
                                [--no-baseline] [--no-block-exec] [--out bench-results/rpc.json]

``settle bench rpc`` loads this file and calls :func:`main`.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from node.bench_scripts import summarize, write_bench_result  # noqa: E402  (needs REPO on the path)

HARDHAT_DIR = REPO / "scripts" / "hardhat"
DEFAULT_OUT = REPO / "bench-results" / "rpc.json"
DEV_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # the public dev mnemonic's account 0
BLOCK_PERIOD = 0.2
POLL_INTERVAL = 0.01
SPOT_CHECKS = 10
DEFAULT_BATCHES = (1, 100)
"""Transactions per HTTP request: one plain request each (the original figure), and JSON-RPC batches of 100."""
MAX_BATCH = 100
"""Settle's default ``[rpc] batch_limit`` (and ethers.js's ``batchMaxCount``)."""


def _bench_exec() -> Any:
    """scripts/bench_exec.py (this file may itself be loaded by path)."""
    from node.bench_scripts import load_bench_script

    return load_bench_script("bench_exec")


class BenchError(Exception):
    """A node could not be started, refused the workload, or gave wrong results."""


# -- nodes ------------------------------------------------------------------------
class SettleNode:
    name = "settle dev node"

    def __init__(self) -> None:
        from tests.e2e.node_process import DevNode

        self._tmp = tempfile.TemporaryDirectory(prefix="settle-bench-rpc-")
        self._node = DevNode(Path(self._tmp.name) / "chain", block_period=BLOCK_PERIOD)

    @property
    def url(self) -> str:
        return self._node.url

    def start(self) -> "SettleNode":
        try:
            self._node.start(timeout=60)
        except (RuntimeError, TimeoutError) as exc:
            raise BenchError(f"settle node dev did not start: {exc}") from None
        return self

    @property
    def pid(self) -> int | None:
        return self._node.process.pid if self._node.process is not None else None

    def stop(self) -> None:
        try:
            if self._node.alive():
                self._node.stop()
        finally:
            self._tmp.cleanup()

    def describe(self) -> str:
        return f"settle node dev (--block-period {BLOCK_PERIOD})"

    def mine_for_batches(self) -> None:
        """Settle mines every block period in every mode."""


def hardhat_version() -> str | None:
    installed = HARDHAT_DIR / "node_modules" / "hardhat" / "package.json"
    return json.loads(installed.read_text())["version"] if installed.exists() else None


def ensure_hardhat_installed() -> str:
    """`npm ci` in scripts/hardhat unless the pinned hardhat is there; returns its version."""
    pinned = json.loads((HARDHAT_DIR / "package.json").read_text())["dependencies"]["hardhat"]
    if hardhat_version() != pinned:
        npm = _which("npm")
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HARDHAT_DIR,
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise BenchError(f"`npm ci` in {HARDHAT_DIR} failed:\n{result.stdout}\n{result.stderr}")
        if hardhat_version() != pinned:
            raise BenchError(f"`npm ci` in {HARDHAT_DIR} did not install hardhat {pinned}")
    return pinned


def _which(program: str) -> str:
    import shutil

    path = shutil.which(program)
    if path is None:
        raise BenchError(f"{program} not found on PATH (Node.js >= 18 and npm are needed for the baseline)")
    return path


class HardhatNode:
    name = "hardhat node"

    def __init__(self) -> None:
        from tests.e2e.node_process import free_port

        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="hardhat-node-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> "HardhatNode":
        from tests.e2e.node_process import WatchedProcess, wait_for_output

        binary = HARDHAT_DIR / "node_modules" / ".bin" / "hardhat"
        self.process = WatchedProcess(
            [_which("node"), str(binary.resolve()), "node", "--hostname", "127.0.0.1", "--port", str(self.port)],
            Path(self._log.name), cwd=HARDHAT_DIR, start_new_session=True,
            env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "CI": "true"},
        )
        try:
            wait_for_output(self.process, "Started HTTP and WebSocket JSON-RPC server", timeout)
        except (RuntimeError, AssertionError) as exc:
            self.stop()
            raise BenchError(f"hardhat {exc}") from None
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)  # its own session: node and its children
                try:
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
        finally:
            self._log.close()
            os.unlink(self._log.name)

    def describe(self) -> str:
        return f"hardhat {hardhat_version()} node (automine; interval mining {BLOCK_PERIOD}s for batches)"

    def mine_for_batches(self) -> None:
        """Interval mining every block period, as Settle: Hardhat answers a batch's requests concurrently,
        so an automining node sees a sender's nonces out of order and refuses them ("Nonce too high")."""
        import requests

        with requests.Session() as session:
            for method, params in (("evm_setAutomine", [False]),
                                   ("evm_setIntervalMining", [int(BLOCK_PERIOD * 1000)])):
                answer = _post(session, self.url, method, params, 1)
                if "error" in answer:
                    raise BenchError(f"hardhat {method}: {answer['error']}")


# -- the workload -------------------------------------------------------------------
@dataclass
class RunResult:
    tps: float
    elapsed_s: float
    send_s: float
    """Time to submit all transactions (the rest is waiting for the last receipt)."""
    retries: int
    """Sends refused for a full per-sender pool, and resent."""
    blocks: int
    chain_id: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    batch: int = 1
    """Transactions per HTTP request (1: one plain request each; more: a JSON-RPC batch)."""
    node_cpu_ms_per_tx: float | None = None
    """CPU time of the node's processes (user + system, psutil) over the timed window, per transfer."""
    client_cpu_ms_per_tx: float | None = None
    """CPU time of this load generator over the timed window, per transfer."""


class CpuMeter:
    """CPU seconds (user + system) used by a process and its children, read with psutil."""

    def __init__(self, pid: int | None) -> None:
        import psutil

        self._process = psutil.Process(pid) if pid is not None else None

    def seconds(self) -> float | None:
        import psutil

        if self._process is None:
            return None
        total = 0.0
        for process in [self._process, *self._process.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


def _post(session: Any, url: str, method: str, params: list, request_id: int) -> Any:
    response = session.post(url, data=json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}),
        headers={"Content-Type": "application/json"}, timeout=60)
    response.raise_for_status()
    return response.json()


def _post_batch(session: Any, url: str, bodies: list[tuple[int, str]]) -> dict[int, Any]:
    """One JSON-RPC batch of ``eth_sendRawTransaction``; the answers by request id."""
    payload = ",".join(
        f'{{"jsonrpc":"2.0","id":{request_id},"method":"eth_sendRawTransaction","params":["{body}"]}}'
        for request_id, body in bodies)
    response = session.post(url, data="[" + payload + "]", headers={"Content-Type": "application/json"},
                            timeout=60)
    response.raise_for_status()
    answers = response.json()
    if not isinstance(answers, list):
        raise BenchError(f"{url}: a batch was answered with {answers!r:.300}")
    return {answer.get("id"): answer for answer in answers}


def _pool_full(error: Any) -> bool:
    return "too many pending" in str(error.get("message", ""))


class Deployment:
    """The token deployed on one node, the sender, fees, and what has been sent so far."""

    def __init__(self, url: str) -> None:
        from eth_account import Account
        from web3 import Web3

        from contracts.compiler import load_artifact

        bench_exec = _bench_exec()
        self.url = url
        self.w3 = w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        self.chain_id = w3.eth.chain_id
        self.sender = Account.from_key(DEV_KEY_0)
        artifact = load_artifact("SettleTestToken")
        base_fee = w3.eth.get_block("latest").get("baseFeePerGas", 0)
        self.priority = w3.eth.max_priority_fee
        self.max_fee = 2 * max(base_fee, w3.eth.gas_price) + self.priority
        nonce = w3.eth.get_transaction_count(self.sender.address)
        deploy = self.sender.sign_transaction({
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "value": 0, "gas": bench_exec.DEPLOY_GAS,
            "maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.priority,
            "data": bench_exec.deploy_calldata(artifact.bytecode),
        })
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_raw_transaction(deploy.raw_transaction), timeout=60, poll_latency=0.05)
        if receipt.status != 1:
            raise BenchError(f"{url}: token deployment failed: {receipt}")
        self.token = w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)
        self.first_nonce = nonce + 1
        self.next_nonce = nonce + 1
        self.pool = bench_exec.recipients()
        self.sent: dict[str, int] = {}
        self.last_block = receipt.blockNumber

    def verify(self) -> None:
        """Untimed: the recipients' and sender's balances and the sender's nonce after every run."""
        bench_exec = _bench_exec()
        token, url = self.token, self.url
        transfers = self.next_nonce - self.first_nonce
        balances = {address: token.functions.balanceOf(address).call() for address in self.pool}
        total = sum(balances.values())
        if total != transfers * bench_exec.TRANSFER_AMOUNT or any(balances[a] != v for a, v in self.sent.items()):
            raise BenchError(f"{url}: recipients hold {total}, expected {transfers * bench_exec.TRANSFER_AMOUNT}")
        if token.functions.balanceOf(self.sender.address).call() != bench_exec.TOKEN_SUPPLY - total:
            raise BenchError(f"{url}: sender's token balance is wrong")
        if self.w3.eth.get_transaction_count(self.sender.address) != self.next_nonce:
            raise BenchError(f"{url}: sender's nonce is wrong")


def _send_one_by_one(session: Any, url: str, bodies: list[str], first_nonce: int) -> tuple[list[str], int]:
    hashes: list[str] = []
    retries = 0
    for index, body in enumerate(bodies):
        while True:
            answer = _post(session, url, "eth_sendRawTransaction", [body], index + 1)
            error = answer.get("error")
            if error is None:
                hashes.append(answer["result"])
                break
            if _pool_full(error):
                retries += 1
                if retries > 100_000:
                    raise BenchError(f"{url}: pending pool never drained: {error}")
                time.sleep(POLL_INTERVAL)
                continue
            raise BenchError(f"{url}: eth_sendRawTransaction #{index} (nonce {first_nonce + index}) "
                             f"refused: {error}")
    return hashes, retries


def _send_batched(session: Any, url: str, bodies: list[str], first_nonce: int, batch: int) -> tuple[list[str], int]:
    """Send in JSON-RPC batches of ``batch``; a transfer refused for a full pool is resent in the next batch.

    So are the later transfers of its batch refused for the gap it left (Settle does not queue gapped
    nonces; Hardhat, mining on an interval, does).
    """
    hashes: list[str | None] = [None] * len(bodies)
    retries = 0
    waiting = list(range(len(bodies)))
    while waiting:
        chunk, waiting = waiting[:batch], waiting[batch:]
        answers = _post_batch(session, url, [(index + 1, bodies[index]) for index in chunk])
        refused: list[int] = []
        for index in chunk:
            answer = answers.get(index + 1)
            if answer is None:
                raise BenchError(f"{url}: no answer in the batch for transfer #{index}")
            error = answer.get("error")
            if error is None:
                hashes[index] = answer["result"]
            elif _pool_full(error) or (refused and "nonce too high" in str(error.get("message", "")).lower()):
                # After a refusal for a full pool, the sender's later nonces in the batch have a gap before them.
                refused.append(index)
            else:
                raise BenchError(f"{url}: eth_sendRawTransaction #{index} (nonce {first_nonce + index}) "
                                 f"refused: {error}")
        if refused:
            retries += len(refused)
            if retries > 100_000:
                raise BenchError(f"{url}: pending pool never drained")
            time.sleep(POLL_INTERVAL)
            waiting = refused + waiting
    return [h for h in hashes if h is not None], retries


def run_workload(deployment: Deployment, transfers: int, batch: int = 1, node_pid: int | None = None) -> RunResult:
    """Send ``transfers`` pre-signed transfers (``batch`` per HTTP request) and wait for the last receipt."""
    import requests
    from eth_hash.auto import keccak

    bench_exec = _bench_exec()
    url, w3 = deployment.url, deployment.w3
    first_nonce = deployment.next_nonce
    raws, sent = bench_exec.sign_transfers(
        deployment.sender, deployment.token.address, transfers, first_nonce=first_nonce,
        chain_id=deployment.chain_id, max_fee_per_gas=deployment.max_fee,
        max_priority_fee_per_gas=deployment.priority, pool=deployment.pool)
    bodies = ["0x" + raw.hex() for raw in raws]
    expected_hashes = ["0x" + keccak(raw).hex() for raw in raws]

    session = requests.Session()
    _post(session, url, "eth_blockNumber", [], 0)  # open the keep-alive connection
    meter = CpuMeter(node_pid)
    node_cpu_start, client_cpu_start = meter.seconds(), time.process_time()
    start = time.perf_counter()
    if batch == 1:
        hashes, retries = _send_one_by_one(session, url, bodies, first_nonce)
    else:
        hashes, retries = _send_batched(session, url, bodies, first_nonce, batch)
    send_s = time.perf_counter() - start
    deadline = time.monotonic() + max(120.0, transfers / 10)
    while True:
        last = _post(session, url, "eth_getTransactionReceipt", [hashes[-1]], 0).get("result")
        if last is not None:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{url}: no receipt for the last transfer {hashes[-1]}")
        time.sleep(POLL_INTERVAL)
    elapsed = time.perf_counter() - start
    node_cpu_end, client_cpu_end = meter.seconds(), time.process_time()
    session.close()

    # -- verification (untimed) --
    if [h.lower() for h in hashes] != expected_hashes:
        raise BenchError(f"{url}: eth_sendRawTransaction returned hashes that are not the transactions'")
    step = max(1, transfers // (SPOT_CHECKS - 1))
    for index in sorted({0, transfers - 1, *range(0, transfers, step)}):
        spot = w3.eth.get_transaction_receipt(hashes[index])
        if spot.status != 1:
            raise BenchError(f"{url}: transfer #{index} {hashes[index]} has status {spot.status}")
    deployment.next_nonce += transfers
    for address, amount in sent.items():
        deployment.sent[address] = deployment.sent.get(address, 0) + amount
    deployment.verify()
    last_block = int(last["blockNumber"], 16)
    blocks, deployment.last_block = last_block - deployment.last_block, last_block

    return RunResult(
        tps=transfers / elapsed, elapsed_s=elapsed, send_s=send_s, retries=retries,
        blocks=blocks, chain_id=deployment.chain_id,
        max_fee_per_gas=deployment.max_fee, max_priority_fee_per_gas=deployment.priority, batch=batch,
        node_cpu_ms_per_tx=(None if node_cpu_start is None or node_cpu_end is None
                            else 1000 * (node_cpu_end - node_cpu_start) / transfers),
        client_cpu_ms_per_tx=1000 * (client_cpu_end - client_cpu_start) / transfers,
    )


def measure_node(factory: Callable[[], Any], transfers: int, batches: tuple[int, ...] = (1,)
                 ) -> tuple[list[RunResult], str]:
    """One fresh node: deploy the token, then one timed run per batch size, in order."""
    node = factory()
    try:
        node.start()
        deployment = Deployment(node.url)
        results = []
        for batch in batches:
            if batch > 1:
                node.mine_for_batches()
            results.append(run_workload(deployment, transfers, batch, node.pid))
        return results, node.describe()
    finally:
        node.stop()


# -- report -------------------------------------------------------------------------
def _cpu(details: list[dict[str, Any]], key: str = "node_cpu_ms_per_tx") -> dict[str, float] | None:
    values = [d[key] for d in details if d.get(key) is not None]
    return summarize(values) if values else None


def mode_summary(settle: list[RunResult], baseline: list[RunResult]) -> dict[str, Any]:
    """Medians and spreads of one batch size's runs, for both nodes."""
    settle_details = [asdict(r) for r in settle]
    baseline_details = [asdict(r) for r in baseline]
    settle_tps = summarize([r.tps for r in settle])
    baseline_tps = summarize([r.tps for r in baseline]) if baseline else None
    return {
        "batch": settle[0].batch,
        "settle_tps": settle_tps,
        "settle_cpu_ms_per_tx": _cpu(settle_details),
        "settle_client_cpu_ms_per_tx": _cpu(settle_details, "client_cpu_ms_per_tx"),
        "baseline_tps": baseline_tps,
        "baseline_cpu_ms_per_tx": _cpu(baseline_details),
        "baseline_client_cpu_ms_per_tx": _cpu(baseline_details, "client_cpu_ms_per_tx"),
        "ratio": settle_tps["median"] / baseline_tps["median"] if baseline_tps else None,
        "settle_details": settle_details,
        "baseline_details": baseline_details,
    }


def print_report(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"ERC-20 transfers through JSON-RPC: {result['transfers']} transfers per run, "
                        f"{result['repeats']} runs per node and batch size (fresh node each repeat)")
    table.add_column("node", no_wrap=True)
    table.add_column("tx per request", justify="right")
    table.add_column("TPS (median)", justify="right")
    table.add_column("spread (min-max)", justify="right", no_wrap=True)
    table.add_column("node CPU ms/tx (median, min-max)", justify="right", no_wrap=True)
    table.add_column("client CPU ms/tx", justify="right")
    table.add_column("submit s", justify="right")
    table.add_column("blocks", justify="right")
    table.add_column("pool-full retries", justify="right")

    def row(label: str, batch: int, details: list[dict[str, Any]]) -> None:
        if not details:
            return
        s = summarize([d["tps"] for d in details])
        cpu = _cpu(details)
        client = _cpu(details, "client_cpu_ms_per_tx")
        table.add_row(label, str(batch), f"{s['median']:,.1f}", f"{s['min']:,.1f} - {s['max']:,.1f}",
                      f"{cpu['median']:.2f} ({cpu['min']:.2f}-{cpu['max']:.2f})" if cpu else "-",
                      f"{client['median']:.2f}" if client else "-",
                      f"{statistics.median(d['send_s'] for d in details):.2f}",
                      f"{statistics.median(d['blocks'] for d in details):,.0f}",
                      str(sum(d["retries"] for d in details)))

    for mode in result["modes"]:
        row(f"settle dev ({BLOCK_PERIOD}s blocks)", mode["batch"], mode["settle_details"])
        row(result["baseline"] or "baseline", mode["batch"], mode["baseline_details"])
    console.print(table)
    for mode in result["modes"]:
        if mode["ratio"] is not None:
            console.print(f"ratio settle/baseline (median TPS), {mode['batch']} tx per request: "
                          f"[bold]{mode['ratio']:.3f}[/bold]")
    if result.get("baseline_error"):
        console.print(f"[red]baseline not measured:[/red] {result['baseline_error']}")
    if result.get("block_exec"):
        _bench_exec().print_table(result["block_exec"])
        settle_exec = result["block_exec"]["settle_erc20_per_s"]
        best = max(mode["settle_tps"]["median"] for mode in result["modes"])
        console.print(f"Settle through JSON-RPC reaches {best / settle_exec:.0%} of "
                      f"its in-process block execution rate ({settle_exec:,.0f} transfers/s).")


def run(transfers: int = 2000, baseline: bool = True, repeats: int = 3,
        out: Path | str | None = DEFAULT_OUT, exec_blocks: int = 1,
        batches: tuple[int, ...] = DEFAULT_BATCHES, block_exec: bool = True) -> int:
    bench_exec = _bench_exec()
    console = bench_exec.wide_console()
    status = 0
    batches = tuple(dict.fromkeys(batches))
    settle_runs: dict[int, list[RunResult]] = {batch: [] for batch in batches}
    baseline_runs: dict[int, list[RunResult]] = {batch: [] for batch in batches}
    settle_name = "settle dev node"
    baseline_name: str | None = None
    baseline_error: str | None = None

    if baseline:
        try:
            baseline_name = f"hardhat {ensure_hardhat_installed()}"
        except BenchError as exc:
            baseline_error = str(exc)
            baseline = False
            status = 1

    def note(repeat: int, described: str, results: list[RunResult]) -> None:
        for r in results:
            cpu = f", node {r.node_cpu_ms_per_tx:.2f} CPU ms/tx" if r.node_cpu_ms_per_tx is not None else ""
            console.print(f"[dim]run {repeat}/{repeats} {described}, {r.batch} tx per request: {r.tps:,.1f} TPS "
                          f"({transfers} in {r.elapsed_s:.2f}s, {r.blocks} blocks, {r.retries} retries{cpu})[/dim]")

    for repeat in range(1, repeats + 1):
        results, settle_name = measure_node(SettleNode, transfers, batches)
        for r in results:
            settle_runs[r.batch].append(r)
        note(repeat, settle_name, results)
        if baseline:
            try:
                results, described = measure_node(HardhatNode, transfers, batches)
            except BenchError as exc:
                baseline_error, baseline, status = str(exc), False, 1
                console.print(f"[red]baseline failed:[/red] {exc}")
                continue
            for r in results:
                baseline_runs[r.batch].append(r)
            note(repeat, described, results)

    exec_result = None
    if block_exec:
        console.print(f"[dim]in-process block execution ({exec_blocks} x 1000 transfers, "
                      f"{repeats} repeats)...[/dim]")
        exec_result = bench_exec.measure(blocks=exec_blocks, txs_per_block=1000, repeats=repeats)

    modes = [mode_summary(settle_runs[batch], baseline_runs[batch]) for batch in batches]
    # The original keys keep their meaning: one transaction per request (the first batch size).
    first = modes[0]
    settle_details, baseline_details = settle_runs[batches[0]], baseline_runs[batches[0]]
    settle_tps = first["settle_tps"]["median"]
    baseline_tps = first["baseline_tps"]["median"] if first["baseline_tps"] else None
    result: dict[str, Any] = {
        "benchmark": "ERC-20 transfers through JSON-RPC (eth_sendRawTransaction until the last receipt)",
        "transfers": transfers,
        "repeats": repeats,
        "fresh_node_per_run": True,
        "client": "python requests.Session (keep-alive), pre-signed transactions; "
                  f"{batches[0]} eth_sendRawTransaction per request in settle_*/baseline_*, each batch size "
                  "of 'batches' in 'modes'; web3.py for deployment and checks",
        "settle": settle_name,
        "settle_tps": settle_tps,
        "settle_runs": [r.tps for r in settle_details],
        "settle_details": [asdict(r) for r in settle_details],
        "baseline": baseline_name,
        "baseline_tps": baseline_tps,
        "baseline_runs": [r.tps for r in baseline_details],
        "baseline_details": [asdict(r) for r in baseline_details],
        "ratio": settle_tps / baseline_tps if baseline_tps else None,
        "block_exec": exec_result,
        "python": sys.version.split()[0],
        # New (issue 21): node CPU per transaction, and JSON-RPC batches.
        "settle_cpu_ms_per_tx": first["settle_cpu_ms_per_tx"],
        "baseline_cpu_ms_per_tx": first["baseline_cpu_ms_per_tx"],
        "batches": list(batches),
        "modes": modes,
    }
    if baseline_error:
        result["baseline_error"] = baseline_error
    print_report(result, console)
    write_bench_result(result, out, console)
    return status


def main(transfers: int = 2000, baseline: bool = True, repeats: int = 3,
         batches: tuple[int, ...] = DEFAULT_BATCHES) -> int:
    """Entry point of `settle bench rpc`; writes bench-results/rpc.json. Returns an exit status."""
    try:
        return run(transfers=transfers, baseline=baseline, repeats=repeats, batches=batches)
    except BenchError as exc:
        print(f"bench rpc failed: {exc}", file=sys.stderr)
        return 1


def _batch_sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(int(part) for part in text.split(",") if part.strip())
    if not sizes or any(not 1 <= size <= MAX_BATCH for size in sizes):
        raise argparse.ArgumentTypeError(f"comma-separated sizes from 1 to {MAX_BATCH}")
    return sizes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=_batch_sizes, default=DEFAULT_BATCHES,
                        help="transactions per HTTP request, comma-separated (1: plain requests; "
                             f"default {','.join(map(str, DEFAULT_BATCHES))})")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="measure Settle only, skip Hardhat")
    parser.add_argument("--no-block-exec", dest="block_exec", action="store_false",
                        help="skip the in-process block execution benchmark")
    parser.add_argument("--out", default=str(DEFAULT_OUT.relative_to(REPO)),
                        help="JSON output (relative paths are relative to the repository)")
    args = parser.parse_args()
    out_path = Path(args.out)
    if not out_path.is_absolute():
        out_path = REPO / out_path
    try:
        sys.exit(run(args.transfers, args.baseline, args.repeats, out_path, batches=args.batches,
                     block_exec=args.block_exec))
    except BenchError as exc:
        print(f"bench rpc failed: {exc}", file=sys.stderr)
        sys.exit(1)
