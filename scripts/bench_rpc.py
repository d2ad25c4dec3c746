"""ERC-20 transfers/s through JSON-RPC: a Settle dev node vs Hardhat's node.

The workload is the same for both nodes, with the same Python client:

1. start a fresh node (Settle: ``settle node dev --block-period 0.2`` on a
   fresh temp data dir; baseline: ``hardhat node`` from scripts/hardhat, automine
   on), and wait until it answers ``eth_chainId``;
2. deploy SettleTestToken from dev account 0 (web3.py, a locally signed tx);
3. pre-sign N type-2 ``transfer`` transactions from account 0 to 100 rotating
   recipients with eth-account (explicit nonces, gas 60,000; fees from the
   node: ``maxPriorityFeePerGas`` = ``eth_maxPriorityFeePerGas``,
   ``maxFeePerGas`` = 2 x max(latest base fee, ``eth_gasPrice``) + priority fee,
   i.e. 0 on Settle);
4. **timed**: send them with ``eth_sendRawTransaction`` one after the other, as
   fast as the node answers, over one keep-alive HTTP session (``requests``, which
   web3.py's HTTP provider also uses), then poll ``eth_getTransactionReceipt``
   for the last one every 10 ms. If the node refuses a transaction because its
   per-sender pending limit is full (Settle's mempool allows 1,000 per sender),
   the client waits 10 ms and resends it; the retries are counted and reported;
5. verify: every returned hash is the transaction's, the recipients' balances
   (``balanceOf``) add up to N x amount, the sender's balance and nonce are
   right, and spot-checked receipts (first, last and 8 more) have status 1;
6. stop the node.

TPS = N / (time from the first send until the last receipt is available). Each
of ``repeats`` measurements uses a fresh node; Settle and the baseline runs are
interleaved. The in-process block execution benchmark (scripts/bench_exec.py,
1 block of 1,000 transfers per repeat) runs in the same invocation and is
reported under ``block_exec``. Figures are printed and written, never asserted.

    python scripts/bench_rpc.py [--transfers 2000] [--repeats 3] [--no-baseline]
                                [--out bench-results/rpc.json]

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

    def stop(self) -> None:
        try:
            if self._node.alive():
                self._node.stop()
        finally:
            self._tmp.cleanup()

    def describe(self) -> str:
        return f"settle node dev (--block-period {BLOCK_PERIOD})"


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
        return f"hardhat {hardhat_version()} node (automine)"


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


def _post(session: Any, url: str, method: str, params: list, request_id: int) -> Any:
    response = session.post(url, data=json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}),
        headers={"Content-Type": "application/json"}, timeout=60)
    response.raise_for_status()
    return response.json()


def run_workload(url: str, transfers: int) -> RunResult:
    import requests
    from eth_account import Account
    from eth_hash.auto import keccak
    from web3 import Web3

    from contracts.compiler import load_artifact

    bench_exec = _bench_exec()
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    chain_id = w3.eth.chain_id
    sender = Account.from_key(DEV_KEY_0)
    artifact = load_artifact("SettleTestToken")

    base_fee = w3.eth.get_block("latest").get("baseFeePerGas", 0)
    priority = w3.eth.max_priority_fee
    max_fee = 2 * max(base_fee, w3.eth.gas_price) + priority

    nonce = w3.eth.get_transaction_count(sender.address)
    deploy = sender.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": nonce, "value": 0, "gas": bench_exec.DEPLOY_GAS,
        "maxFeePerGas": max_fee, "maxPriorityFeePerGas": priority,
        "data": bench_exec.deploy_calldata(artifact.bytecode),
    })
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(deploy.raw_transaction), timeout=60, poll_latency=0.05)
    if receipt.status != 1:
        raise BenchError(f"{url}: token deployment failed: {receipt}")
    token = w3.eth.contract(address=receipt.contractAddress, abi=artifact.abi)
    deploy_block = receipt.blockNumber

    pool = bench_exec.recipients()
    raws, sent = bench_exec.sign_transfers(
        sender, token.address, transfers, first_nonce=nonce + 1, chain_id=chain_id,
        max_fee_per_gas=max_fee, max_priority_fee_per_gas=priority, pool=pool)
    bodies = ["0x" + raw.hex() for raw in raws]
    expected_hashes = ["0x" + keccak(raw).hex() for raw in raws]

    session = requests.Session()
    _post(session, url, "eth_blockNumber", [], 0)  # open the keep-alive connection
    hashes: list[str] = []
    retries = 0
    start = time.perf_counter()
    for index, body in enumerate(bodies):
        while True:
            answer = _post(session, url, "eth_sendRawTransaction", [body], index + 1)
            error = answer.get("error")
            if error is None:
                hashes.append(answer["result"])
                break
            if "too many pending" in str(error.get("message", "")):
                retries += 1
                if retries > 100_000:
                    raise BenchError(f"{url}: pending pool never drained: {error}")
                time.sleep(POLL_INTERVAL)
                continue
            raise BenchError(f"{url}: eth_sendRawTransaction #{index} (nonce {nonce + 1 + index}) "
                             f"refused: {error}")
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
    session.close()

    # -- verification (untimed) --
    if [h.lower() for h in hashes] != expected_hashes:
        raise BenchError(f"{url}: eth_sendRawTransaction returned hashes that are not the transactions'")
    step = max(1, transfers // (SPOT_CHECKS - 1))
    for index in sorted({0, transfers - 1, *range(0, transfers, step)}):
        spot = w3.eth.get_transaction_receipt(hashes[index])
        if spot.status != 1:
            raise BenchError(f"{url}: transfer #{index} {hashes[index]} has status {spot.status}")
    balances = {address: token.functions.balanceOf(address).call() for address in pool}
    total = sum(balances.values())
    if total != transfers * bench_exec.TRANSFER_AMOUNT or any(balances[a] != v for a, v in sent.items()):
        raise BenchError(f"{url}: recipients hold {total}, expected {transfers * bench_exec.TRANSFER_AMOUNT}")
    if token.functions.balanceOf(sender.address).call() != bench_exec.TOKEN_SUPPLY - total:
        raise BenchError(f"{url}: sender's token balance is wrong")
    if w3.eth.get_transaction_count(sender.address) != nonce + 1 + transfers:
        raise BenchError(f"{url}: sender's nonce is wrong")

    return RunResult(
        tps=transfers / elapsed, elapsed_s=elapsed, send_s=send_s, retries=retries,
        blocks=int(last["blockNumber"], 16) - deploy_block, chain_id=chain_id,
        max_fee_per_gas=max_fee, max_priority_fee_per_gas=priority,
    )


def measure_node(factory: Callable[[], Any], transfers: int) -> tuple[RunResult, str]:
    node = factory()
    try:
        node.start()
        return run_workload(node.url, transfers), node.describe()
    finally:
        node.stop()


# -- report -------------------------------------------------------------------------
def print_report(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"ERC-20 transfers through JSON-RPC: {result['transfers']} transfers, "
                        f"{result['repeats']} runs per node (fresh node each run)")
    table.add_column("node", no_wrap=True)
    table.add_column("TPS (median)", justify="right")
    table.add_column("spread (min-max)", justify="right", no_wrap=True)
    table.add_column("submit s (median)", justify="right")
    table.add_column("blocks (median)", justify="right")
    table.add_column("pool-full retries", justify="right")

    def row(label: str, details: list[dict[str, Any]]) -> None:
        tps = [d["tps"] for d in details]
        s = summarize(tps)
        table.add_row(label, f"{s['median']:,.1f}", f"{s['min']:,.1f} - {s['max']:,.1f}",
                      f"{statistics.median(d['send_s'] for d in details):.2f}",
                      f"{statistics.median(d['blocks'] for d in details):,.0f}",
                      str(sum(d["retries"] for d in details)))

    if result["settle_details"]:
        row(f"settle dev ({BLOCK_PERIOD}s blocks)", result["settle_details"])
    if result["baseline_details"]:
        row(result["baseline"], result["baseline_details"])
    console.print(table)
    if result["ratio"] is not None:
        console.print(f"ratio settle/baseline (medians): [bold]{result['ratio']:.3f}[/bold]")
    if result.get("baseline_error"):
        console.print(f"[red]baseline not measured:[/red] {result['baseline_error']}")
    if result.get("block_exec"):
        _bench_exec().print_table(result["block_exec"])
        settle_exec = result["block_exec"]["settle_erc20_per_s"]
        if result["settle_tps"]:
            console.print(f"Settle through JSON-RPC reaches {result['settle_tps'] / settle_exec:.0%} of "
                          f"its in-process block execution rate ({settle_exec:,.0f} transfers/s).")


def run(transfers: int = 2000, baseline: bool = True, repeats: int = 3,
        out: Path | str | None = DEFAULT_OUT, exec_blocks: int = 1) -> int:
    bench_exec = _bench_exec()
    console = bench_exec.wide_console()
    status = 0
    settle_details: list[RunResult] = []
    baseline_details: list[RunResult] = []
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

    for repeat in range(1, repeats + 1):
        settle_run, settle_name = measure_node(SettleNode, transfers)
        settle_details.append(settle_run)
        console.print(f"[dim]run {repeat}/{repeats} {settle_name}: {settle_run.tps:,.1f} TPS "
                      f"({transfers} in {settle_run.elapsed_s:.2f}s, {settle_run.blocks} blocks, "
                      f"{settle_run.retries} retries)[/dim]")
        if baseline:
            try:
                base_run, described = measure_node(HardhatNode, transfers)
            except BenchError as exc:
                baseline_error, baseline, status = str(exc), False, 1
                console.print(f"[red]baseline failed:[/red] {exc}")
                continue
            baseline_details.append(base_run)
            console.print(f"[dim]run {repeat}/{repeats} {described}: {base_run.tps:,.1f} TPS "
                          f"({transfers} in {base_run.elapsed_s:.2f}s, {base_run.blocks} blocks)[/dim]")

    console.print(f"[dim]in-process block execution ({exec_blocks} x 1000 transfers, "
                  f"{repeats} repeats)...[/dim]")
    block_exec = bench_exec.measure(blocks=exec_blocks, txs_per_block=1000, repeats=repeats)

    settle_tps = statistics.median(r.tps for r in settle_details)
    baseline_tps = statistics.median(r.tps for r in baseline_details) if baseline_details else None
    result: dict[str, Any] = {
        "benchmark": "ERC-20 transfers through JSON-RPC (eth_sendRawTransaction until the last receipt)",
        "transfers": transfers,
        "repeats": repeats,
        "fresh_node_per_run": True,
        "client": "python requests.Session (keep-alive), sequential eth_sendRawTransaction; "
                  "web3.py for deployment and checks",
        "settle": settle_name,
        "settle_tps": settle_tps,
        "settle_runs": [r.tps for r in settle_details],
        "settle_details": [asdict(r) for r in settle_details],
        "baseline": baseline_name,
        "baseline_tps": baseline_tps,
        "baseline_runs": [r.tps for r in baseline_details],
        "baseline_details": [asdict(r) for r in baseline_details],
        "ratio": settle_tps / baseline_tps if baseline_tps else None,
        "block_exec": block_exec,
        "python": sys.version.split()[0],
    }
    if baseline_error:
        result["baseline_error"] = baseline_error
    print_report(result, console)
    write_bench_result(result, out, console)
    return status


def main(transfers: int = 2000, baseline: bool = True, repeats: int = 3) -> int:
    """Entry point of `settle bench rpc`; writes bench-results/rpc.json. Returns an exit status."""
    try:
        return run(transfers=transfers, baseline=baseline, repeats=repeats)
    except BenchError as exc:
        print(f"bench rpc failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="measure Settle only, skip Hardhat")
    parser.add_argument("--out", default=str(DEFAULT_OUT.relative_to(REPO)),
                        help="JSON output (relative paths are relative to the repository)")
    args = parser.parse_args()
    out_path = Path(args.out)
    if not out_path.is_absolute():
        out_path = REPO / out_path
    try:
        sys.exit(run(args.transfers, args.baseline, args.repeats, out_path))
    except BenchError as exc:
        print(f"bench rpc failed: {exc}", file=sys.stderr)
        sys.exit(1)
