"""Validator-network throughput, latency and CPU per transaction: ERC-20 transfers through JSON-RPC.

For each configuration (``--validators`` validators at each of ``--periods``
block periods, each validator its own process on this machine, libp2p on
127.0.0.1) and for ``settle node dev`` as the baseline in the same run
(``--no-dev`` skips it):

1. start the nodes, deploy SettleTestToken from dev account 0 and give the
   other dev accounts tokens (``SENDERS`` = 16 senders derived from the dev
   mnemonic: four per endpoint on 4 validators, so at 3,000 tx/s a sender
   offers about 190/s and no sender's ``[mempool] max_per_sender`` binds);
   then measure each node's **idle CPU** (ms of CPU per second over
   ``IDLE_S`` with no load: a validator still proposes and certifies an empty
   block every period);
2. **saturation search**: offer pre-signed ``transfer`` transactions at a
   fixed rate for ``--seconds`` per level, starting at ``FIRST_RATE`` and
   rising ×1.5 until a level commits less than 80 % of the offered rate or
   leaves a transaction behind (refused or never committed). If the first
   level already fails, the search goes down ×1/1.5 until a level keeps up.
   A level's TPS is its committed transactions divided by the time from its
   first submission to its last commit; the best level's TPS is the
   saturation figure;
3. **latency at half of saturation**: offer 50 % of the saturation rate and
   report submit-to-final latency p50 and p99. "Final" is the moment a poller
   (every 20 ms) first sees the transaction in a committed block of node 0; a
   committed block is final, with its certificate, the moment it is written.

**The load generator.** One sequential client sending one HTTP request per
transaction topped out near 150 tx/s on this 2-core machine: the client, not
the network, was the ceiling, so saturation could not be measured. Now every
transaction is signed and its JSON-RPC request text built before the window;
each sender account is bound to one endpoint (its nonces arrive there in
order) and one thread per endpoint, on one keep-alive session, sends every
tick (``--tick-ms``, default 25 ms) one JSON-RPC batch (split at Settle's
default ``[rpc] batch_limit`` of 100) holding the transactions that fell due
since the last tick. A transaction's submit time is the moment its batch is
sent, so the batching adds at most one tick to the measured latency. A
refusal is counted by kind (``refused``, ``refusals``), is never committed,
and fails the level; after one, the senders' nonces are read again from their
endpoints' pools.

**CPU per committed transaction.** A level's measured window runs from its
first submission until its last transaction is committed (or the wait gives
up). Each node process's CPU time (user + system, psutil) over that window,
divided by the transactions committed in it, is its ``cpu_ms_per_tx``; the
sum over the validators is the ``total``; the load generator's own CPU (this
process: submitting and polling, transactions are signed before the window)
is ``load_generator``, separately.

**Breakdown.** Unless ``--no-profile``, each node process is sampled by
``py-spy record --pid`` (50 Hz, non-blocking, idle threads not sampled) over
exactly the measured window: started just before the first submission and
stopped with SIGINT at its end. Each sampled stack is put in one category:
walking the stack from the leaf (innermost frame) towards the root, the first
frame whose file matches a category's patterns (``CATEGORIES``, checked in
order for that frame) decides; generic frames (trio, the standard library,
libp2p's service runner, multiaddr, eth_utils …) match none and are walked
past. A stack with no matching frame is ``idle`` if its leaf is a wait
(epoll, select, a lock or sleep), else ``other``. Shares are percentages of
the samples; ``ms_per_tx`` spreads each node's CPU per transaction over its
non-idle samples and sums over the nodes. py-spy counts a thread that is
runnable but waiting for a core as busy, so on a crowded machine the shares
are of busy-or-waiting time; ``ms_per_tx`` rests on the measured CPU.
Attaching needs ptrace rights (root, or yama ptrace_scope 0): if py-spy is
missing or cannot attach, the run still completes and ``breakdown`` is null, with the reason printed and written as
``breakdown_unavailable``.

``cpu_ms_per_tx`` also holds, when the idle CPU was measured, ``idle_ms_per_s``
per node and ``net_of_idle_per_validator`` / ``net_of_idle_total``: the
window's CPU less each node's idle rate times the window, per committed
transaction.

**Comparing [p2p] settings.** ``--p2p KEY=VALUE`` (repeatable) writes the
setting into every validator's ``[p2p]`` section, e.g.
``--p2p compact_proposals=false``; the run's name and its ``p2p`` key say so.

Writes ``bench-results/network.json`` (``runs``: validators, block_period_ms,
tps, latency_p50_ms, latency_p99_ms, idle_cpu_ms_per_s, cpu_ms_per_tx,
breakdown and every level with its own; ``dev_tps`` and ``dev`` for the
baseline; the load average before and after). Figures are printed and
written, never asserted.

    python scripts/bench_network.py [--seconds 15] [--periods 1000,200] [--validators 4] [--no-profile]
                                    [--no-dev] [--p2p compact_proposals=false] [--tick-ms 25]
"""
from __future__ import annotations

import argparse
import bisect
import math
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from node.bench_scripts import write_bench_result  # noqa: E402  (needs REPO on the path)

DEFAULT_OUT = REPO / "bench-results" / "network.json"
DEFAULT_SECONDS = 15.0
SENDERS = 16  # dev accounts 0..15: four per endpoint on 4 validators, each far below [mempool] max_per_sender
POLL_S = 0.02
SATURATED = 0.8
TOKEN_SUPPLY = 10**27
FIRST_RATE = 100.0
RATE_STEP = 1.5
MIN_RATE = 5.0
MAX_RATE = 4000.0
TICK_S = 0.025  # one batch per endpoint per tick with the transactions due
BATCH_LIMIT = 100  # Settle's default [rpc] batch_limit: a tick's transactions for one endpoint go in chunks of this
IDLE_S = 3.0  # seconds of no load over which the nodes' idle CPU is measured, before the levels
STALL_S = 8.0  # after the last submission, give up waiting when no commit of ours arrived for this long
SAMPLE_HZ = 50

# Breakdown categories: for each frame, the first category with a pattern contained in the frame's file
# (py-spy prints paths relative to sys.path, e.g. ``libp2p/stream_muxer/yamux/yamux.py``) is the frame's category.
# More specific patterns come before the general ones they would otherwise fall under. Gossipsub is gone
# from validators (direct streams: node/p2p/direct.py, outbox.py, muxer.py); what is left of libp2p (Noise,
# yamux, identify's signed records and keys) is transport. Compact proposals (node/compact_block.py: building
# them, filling them from the pool, fetching the missing transactions) are their own category, "proposals",
# so that turning ``[p2p] compact_proposals`` on and off shows what they cost beside consensus.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("notifications", ("node/rpc/filters.py", "subscription", "websocket", "wsproto/", "ws_stream")),
    ("rpc", ("hypercorn/", "starlette/", "jsonrpcserver/", "node/rpc/", "h11/", "json/", "orjson", "msgspec")),
    ("decode and recovery", ("vm/senders.py", "vm/encoding.py", "vm/transaction_checks.py", "rlp/", "coincurve/",
                             "eth_keys/", "transactions.py", "node/rlp_nesting.py", "node/p2p/admission.py")),
    ("mempool", ("node/mempool.py",)),
    ("proposals", ("node/compact_block.py",)),
    ("p2p transport", ("node/p2p/", "libp2p/", "envelope.py", "peerstore.py", "nacl/", "google/protobuf/",
                       "_pb2.py")),
    ("persistence", ("plyvel", "node/store.py", "vm/leveldb.py")),
    ("consensus", ("consensus/", "node/engine.py", "node/sync.py", "node/catchup.py", "blspy", "py_ecc/",
                   "node/validator_registry.py")),
    ("execution", ("vm/", "eth/", "trie/")),
)
IDLE = "idle"
OTHER = "other"
CATEGORY_NAMES = (*(name for name, _ in CATEGORIES), OTHER, IDLE)
# Leaf functions that wait rather than work: a stack that ends in one and matches no category is idle.
_WAITS = ("get_events", "epoll", "select", "poll (", "wait (", "acquire (", "sleep (", "_wait_for_tstate_lock")


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
    window_s: float = 0.0
    refused: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    sent_tps: float = 0.0
    """The rate the load generator really sent at: transactions over first to last batch (its own ceiling)."""
    send_cpu_ms_per_tx: float = 0.0
    """The sender threads' own CPU (thread time: building batches, HTTP, parsing answers) per transaction."""
    cpu_ms_per_tx: dict[str, Any] | None = None
    breakdown: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Kept up: committed at least ``SATURATED`` of the offered rate and left nothing behind."""
        return self.tps >= SATURATED * self.offered_tps and self.committed == self.sent


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
    saturation_offered_tps: float = 0.0
    idle_cpu_ms_per_s: list[float] | None = None
    p2p: dict[str, Any] = field(default_factory=dict)
    cpu_ms_per_tx: dict[str, Any] | None = None
    breakdown: dict[str, Any] | None = None
    breakdown_unavailable: str | None = None


def frame_category(frame: str) -> str | None:
    """The category of one py-spy frame, ``function (path:line)``, or None for a generic frame."""
    where = frame.rsplit(" (", 1)[-1]
    for name, patterns in CATEGORIES:
        if any(pattern in where for pattern in patterns):
            return name
    return None


def categorise_stack(stack: str) -> str:
    """The category of a py-spy raw stack (frames root first, ``;``-separated): its innermost matching frame's."""
    frames = stack.split(";")
    for frame in reversed(frames):
        category = frame_category(frame)
        if category is not None:
            return category
    leaf = frames[-1]
    return IDLE if any(wait in leaf for wait in _WAITS) else OTHER


def count_categories(raw: str) -> Counter[str]:
    """Samples per category in py-spy ``--format raw`` output (``stack count`` per line)."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            counts[categorise_stack(stack)] += int(count)
    return counts


def cpu_per_tx(node_cpu_s: list[float], load_generator_cpu_s: float, committed: int,
               idle_ms_per_s: list[float] | None = None, window_s: float = 0.0) -> dict[str, Any] | None:
    """CPU milliseconds per committed transaction: per node process, their total, and the load generator.

    With each node's idle CPU (``idle_ms_per_s``, measured with no load) and the window's length, also the
    same net of idle: what the window's CPU exceeds the idle rate by, per committed transaction (a node
    with no load still proposes and certifies empty blocks every period).
    """
    if committed <= 0:
        return None
    per_node = [round(cpu * 1000 / committed, 3) for cpu in node_cpu_s]
    result: dict[str, Any] = {
        "per_validator": per_node,
        "total": round(sum(node_cpu_s) * 1000 / committed, 3),
        "load_generator": round(load_generator_cpu_s * 1000 / committed, 3),
        "cpu_s_per_validator": [round(cpu, 3) for cpu in node_cpu_s],
        "load_generator_cpu_s": round(load_generator_cpu_s, 3),
    }
    if idle_ms_per_s is not None:
        net = [(cpu * 1000 - idle * window_s) / committed
               for cpu, idle in zip(node_cpu_s, idle_ms_per_s, strict=True)]
        result["idle_ms_per_s"] = [round(idle, 1) for idle in idle_ms_per_s]
        result["net_of_idle_per_validator"] = [round(ms, 3) for ms in net]
        result["net_of_idle_total"] = round(sum(net), 3)
    return result


def breakdown_of(per_node: list[Counter[str]], per_node_ms_per_tx: list[float] | None) -> dict[str, Any]:
    """Shares (% of samples) per category, per node and over all nodes, and the CPU ms per tx they stand for.

    ``ms_per_tx`` spreads each node's own CPU ms per tx over that node's non-idle samples and sums over the
    nodes, so a busier node weighs more and the categories add up to the measured total.
    """
    merged: Counter[str] = Counter()
    for counts in per_node:
        merged.update(counts)

    def shares(counts: Counter[str]) -> dict[str, float]:
        total = sum(counts.values())
        return {name: round(100 * counts[name] / total, 1) if total else 0.0 for name in CATEGORY_NAMES}

    result: dict[str, Any] = {
        "samples": sum(merged.values()),
        "percent": shares(merged),
        "per_validator_percent": [shares(counts) for counts in per_node],
    }
    if per_node_ms_per_tx is not None:
        spread = dict.fromkeys(CATEGORY_NAMES, 0.0)
        for counts, ms in zip(per_node, per_node_ms_per_tx, strict=True):
            busy = sum(counts.values()) - counts[IDLE]
            for name in CATEGORY_NAMES:
                if busy and name != IDLE:
                    spread[name] += ms * counts[name] / busy
        result["ms_per_tx"] = {name: round(spread[name], 3) for name in CATEGORY_NAMES}
    return result


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far."""
    import psutil  # type: ignore[import-untyped]  # no stubs; pinned in the test extra

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def py_spy_path() -> str | None:
    """py-spy beside this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """One ``py-spy record --pid`` per node over a window; ``unavailable`` says why there is no profile."""

    def __init__(self, pids: list[int], directory: Path, enabled: bool) -> None:
        self.pids = pids
        self.directory = directory
        self.spy = py_spy_path() if enabled else None
        self.unavailable: str | None = None if enabled else "--no-profile"
        if enabled and self.spy is None:
            self.unavailable = "py-spy not found (pip install py-spy==0.4.1, or scripts/test installs it)"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.window = 0

    def start(self) -> None:
        if self.unavailable is not None or self.spy is None:
            return
        self.window += 1
        self.processes = []
        for index, pid in enumerate(self.pids):
            out = self.directory / f"w{self.window}-n{index}.txt"
            self.processes.append(subprocess.Popen(
                [self.spy, "record", "--pid", str(pid), "--rate", str(SAMPLE_HZ), "--nonblocking",
                 "--format", "raw", "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))

    def stop(self) -> list[Counter[str]] | None:
        """Stop the samplers (SIGINT: py-spy writes what it has) and count categories; None if unavailable."""
        if not self.processes:
            return None
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        counts = []
        for index, process in enumerate(self.processes):
            try:
                _, err = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
            out = self.directory / f"w{self.window}-n{index}.txt"
            if not out.exists():
                message = err.decode(errors="replace").strip().splitlines()
                self.unavailable = f"py-spy could not sample pid {self.pids[index]}: " + (
                    message[-1] if message else f"exit code {process.returncode}")
                self.processes = []
                return None
            counts.append(count_categories(out.read_text(errors="replace")))
        self.processes = []
        return counts


class Client:
    """Keep-alive JSON-RPC sessions, one per endpoint (set-up calls and the commit poller)."""

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


def sender_endpoint(sender: int, endpoints: int) -> int:
    """The one endpoint a sender talks to, as a client does: its nonces arrive there in order."""
    return sender % endpoints


def due_counts(count: int, rate: float, tick_s: float) -> list[int]:
    """For each tick ``k`` (at ``k * tick_s`` from the start), how many transactions are due by then in all.

    Transaction ``i`` is due at ``i / rate``; a tick sends every transaction due at or before it and not sent
    yet, so the last entry is ``count`` and tick 0 sends the first transaction.
    """
    if count <= 0:
        return []
    if rate <= 0 or tick_s <= 0:
        raise ValueError("rate and tick must be positive")
    ticks = math.ceil((count - 1) / (rate * tick_s) - 1e-9) + 1  # the last tick is the last one's due time
    due = [min(count, int(rate * k * tick_s + 1e-9) + 1) for k in range(ticks)]
    due[-1] = count  # float rounding never leaves the last transaction unsent
    return due


def plan_batches(indices: list[int], limit: int) -> list[list[int]]:
    """One tick's due transactions for one endpoint, in order, as JSON-RPC batches of at most ``limit``."""
    return [indices[start:start + limit] for start in range(0, len(indices), limit)]


def next_rate(levels: list[tuple[float, bool]]) -> float | None:
    """The saturation search's next offered rate after ``levels`` (offered rate, kept up), or None to stop.

    Rise ×``RATE_STEP`` while each level keeps up; stop at the first that does not. If the very first level
    fails (a bad start: a slow machine or a slow build), go down ×1/``RATE_STEP`` until one keeps up, and stop
    there: the level above it is already known to fail.
    """
    if not levels:
        return FIRST_RATE
    rate, ok = levels[-1]
    ever_failed = any(not kept for _, kept in levels)
    if ok:
        if ever_failed:  # came down from a failing start: this is the highest level that keeps up
            return None
        higher = rate * RATE_STEP
        return higher if higher <= MAX_RATE else None
    if all(not kept for _, kept in levels):
        lower = rate / RATE_STEP
        return lower if lower >= MIN_RATE else None
    return None


class Workload:
    """The bench token and ``SENDERS`` funded senders; transfers are signed (and their JSON-RPC request text
    built) before a level's window, so the window holds only sending and polling."""

    def __init__(self, client: Client, chain_id: int) -> None:
        from eth_account import Account

        from node.dev_accounts import DevSigner

        self.client = client
        self.chain_id = chain_id
        self.accounts = [Account.from_key(bytes(a.key))
                         for a in DevSigner.from_mnemonic(count=SENDERS).accounts[:SENDERS]]
        self.nonces = [0] * SENDERS
        self.sync_nonces()
        self.token: str = ""

    def sync_nonces(self) -> None:
        """Each sender's next nonce from its endpoint's pool (a refused transaction left a gap after it)."""
        endpoints = len(self.client.urls)
        self.nonces = [int(self.client.call(sender_endpoint(i, endpoints), "eth_getTransactionCount",
                                            [a.address, "pending"]), 16)
                       for i, a in enumerate(self.accounts)]

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

    def sign_raw_transfers(self, count: int) -> list[bytes]:
        """``count`` signed transfers, sender ``i % SENDERS`` for the ``i``-th (``bench soak`` sends these)."""
        recipient = "0x" + "77" * 20
        return [self._sign(i % SENDERS, self.token, _transfer(recipient, 1), 60_000) for i in range(count)]

    def sign_transfers(self, count: int) -> list[str]:
        """``count`` transfers, sender ``i % SENDERS`` for the ``i``-th, as JSON-RPC request objects (text)."""
        return [f'{{"jsonrpc":"2.0","id":{i},"method":"eth_sendRawTransaction","params":["0x{raw.hex()}"]}}'
                for i, raw in enumerate(self.sign_raw_transfers(count))]


def _transfer(to: str, amount: int) -> bytes:
    from eth_abi import encode
    from eth_hash.auto import keccak

    return keccak(b"transfer(address,uint256)")[:4] + encode(["address", "uint256"], [to, amount])


class Sender(threading.Thread):
    """Sends one endpoint's share of a level: at each tick, its due transactions as JSON-RPC batches on one
    keep-alive session. A transaction's submit time is the moment its batch is sent; a late tick (the
    previous batch took longer than a tick) simply sends more at once."""

    def __init__(self, url: str, requests_text: list[str], indices: list[int], due: list[int], start: float,
                 tick_s: float) -> None:
        super().__init__(daemon=True)
        import requests

        self.url = url
        self.session = requests.Session()
        self.requests_text = requests_text
        self.indices = indices  # this endpoint's transactions, ascending
        self.due = due
        self.start_at = start
        self.tick_s = tick_s
        self.submitted: dict[str, float] = {}
        self.refusals: Counter[str] = Counter()
        self.sent = 0
        self.first_sent = self.last_sent = 0.0
        self.cpu_s = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        started = time.thread_time()
        try:
            self._run()
        except BaseException as error:  # reported by offer(), never lost in a thread
            self.error = error
        self.cpu_s = time.thread_time() - started

    def _run(self) -> None:
        sent = 0
        for tick, due in enumerate(self.due):
            end = bisect.bisect_left(self.indices, due, lo=sent)
            if end == sent:
                continue
            delay = self.start_at + tick * self.tick_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for chunk in plan_batches(self.indices[sent:end], BATCH_LIMIT):
                self._send(chunk)
            sent = end

    def _send(self, chunk: list[int]) -> None:
        body = "[" + ",".join(self.requests_text[index] for index in chunk) + "]"
        at = time.monotonic()
        self.first_sent = self.first_sent or at
        self.last_sent = at
        self.sent += len(chunk)
        response = self.session.post(self.url, data=body, headers={"Content-Type": "application/json"},
                                     timeout=60)
        answers = response.json()
        if not isinstance(answers, list):
            raise BenchError(f"{self.url}: a batch was answered with {answers!r:.300}")
        for answer in answers:
            error = answer.get("error")
            if error is None:
                self.submitted[answer["result"]] = at
            else:
                self.refusals[_refusal_kind(error)] += 1
        if len(answers) < len(chunk):
            self.refusals["no answer"] += len(chunk) - len(answers)


def _refusal_kind(error: dict) -> str:
    """A refusal's message without its numbers, so that refusals of one kind are counted together."""
    message = str(error.get("message", error))
    return f"{error.get('code')}: " + "".join(ch for ch in message.split(":")[0] if not ch.isdigit()).strip()


class Window:
    """What a level measures around its offered load: node and load-generator CPU, and the profile."""

    def __init__(self, pids: list[int], profiler: Profiler) -> None:
        self.pids = pids
        self.profiler = profiler
        self.started = time.monotonic()
        self.profiler.start()
        self.node_cpu = [cpu_seconds(pid) for pid in self.pids]
        self.own_cpu = time.process_time()

    def close(self, level: Level, idle_ms_per_s: list[float] | None = None) -> None:
        node_cpu = [cpu_seconds(pid) - before for pid, before in zip(self.pids, self.node_cpu, strict=True)]
        own_cpu = time.process_time() - self.own_cpu
        window_s = time.monotonic() - self.started
        level.window_s = round(window_s, 2)
        counts = self.profiler.stop()
        level.cpu_ms_per_tx = cpu_per_tx(node_cpu, own_cpu, level.committed, idle_ms_per_s, window_s)
        if counts is not None:
            level.breakdown = breakdown_of(
                counts, level.cpu_ms_per_tx["per_validator"] if level.cpu_ms_per_tx else None)


def offer(workload: Workload, watcher: CommitWatcher, rate: float, seconds: float, tick_s: float = TICK_S,
          measured: tuple[list[int], Profiler, list[float] | None] | None = None) -> Level:
    """Submit at ``rate`` for ``seconds``, then wait for the commits.

    One sender thread per endpoint, each with the transactions of the senders bound to its endpoint, sends
    one JSON-RPC batch per tick. With ``measured`` (node pids, a profiler, the nodes' idle CPU), the CPU and
    the profile are taken over the window from the first submission to the last commit (or to giving up:
    ``STALL_S`` without a new commit of ours). A refused transaction is counted, never committed.
    """
    count = max(1, int(rate * seconds))
    texts = workload.sign_transfers(count)
    endpoints = len(workload.client.urls)
    due = due_counts(count, rate, tick_s)
    window = Window(measured[0], measured[1]) if measured is not None else None
    start = time.monotonic() + 0.05
    senders = [Sender(url, texts, [i for i in range(count) if sender_endpoint(i % SENDERS, endpoints) == e],
                      due, start, tick_s) for e, url in enumerate(workload.client.urls)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    failed = next((sender.error for sender in senders if sender.error is not None), None)
    if failed is not None:
        if window is not None:
            window.profiler.stop()
        raise BenchError(f"sending at {rate:.0f} tx/s failed: {failed!r}") from failed
    submitted: dict[str, float] = {}
    refusals: Counter[str] = Counter()
    for sender in senders:
        submitted.update(sender.submitted)
        refusals.update(sender.refusals)
    deadline = time.monotonic() + max(30.0, count / 20)
    progress, last_progress = -1, time.monotonic()
    while time.monotonic() < deadline:
        done = sum(1 for h in submitted if h in watcher.seen)
        if done == len(submitted):
            break
        if done != progress:
            progress, last_progress = done, time.monotonic()
        elif time.monotonic() - last_progress > STALL_S:
            break  # left behind: nothing more of ours is being committed
        time.sleep(0.05)
    committed = {h: watcher.seen[h] for h in submitted if h in watcher.seen}
    if refusals:
        workload.sync_nonces()  # the refused nonces left gaps: the next level starts from the pools' view
    if not committed:
        if window is not None:
            window.profiler.stop()
        raise BenchError(f"nothing committed at {rate:.0f} tx/s (refusals: {dict(refusals)})")
    latencies = sorted((committed[h] - submitted[h]) * 1000 for h in committed)
    elapsed = max(committed.values()) - start
    sent = sum(sender.sent for sender in senders)
    if sent != count:
        raise BenchError(f"the senders sent {sent} of {count} transactions")  # a planning bug, never a figure
    send_span = max(s.last_sent for s in senders) - min(s.first_sent for s in senders if s.first_sent)
    level = Level(
        offered_tps=rate, sent=count, sent_tps=round(count / send_span, 1) if send_span > 0 else 0.0,
        send_cpu_ms_per_tx=round(sum(sender.cpu_s for sender in senders) * 1000 / count, 3),
        committed=len(committed), tps=len(committed) / elapsed,
        latency_p50_ms=statistics.median(latencies),
        latency_p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        refused=sum(refusals.values()), refusals=dict(refusals),
    )
    if window is not None:
        window.close(level, measured[2] if measured is not None else None)
    return level


def idle_cpu(pids: list[int], seconds: float = IDLE_S) -> list[float]:
    """Each node's CPU milliseconds per second over ``seconds`` with no load offered."""
    before = [cpu_seconds(pid) for pid in pids]
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return [round((cpu_seconds(pid) - cpu) * 1000 / elapsed, 1) for pid, cpu in zip(pids, before, strict=True)]


def _describe(level: Level) -> str:
    text = (f"offered {level.offered_tps:.0f}/s (sent at {level.sent_tps:.0f}/s, "
            f"{level.send_cpu_ms_per_tx:.2f} ms CPU/tx to send) -> "
            f"{level.committed}/{level.sent} committed"
            + (f" ({level.refused} refused)" if level.refused else "")
            + f", {level.tps:.1f} TPS, p50 {level.latency_p50_ms:.0f} ms, p99 {level.latency_p99_ms:.0f} ms")
    if level.cpu_ms_per_tx is not None:
        cpu = level.cpu_ms_per_tx
        text += (f"; CPU ms/tx {cpu['total']:.1f} (" + " ".join(f"{v:.1f}" for v in cpu["per_validator"])
                 + f", load generator {cpu['load_generator']:.2f})")
        if "net_of_idle_total" in cpu:
            text += f", net of idle {cpu['net_of_idle_total']:.1f}"
    if level.breakdown is not None:
        top = sorted(level.breakdown["percent"].items(), key=lambda item: -item[1])[:4]
        text += "; " + ", ".join(f"{name} {share:.0f}%" for name, share in top)
    return text


def measure(run: Run, urls: list[str], seconds: float, console: Any, pids: list[int] | None = None,
            profile: bool = True, tick_s: float = TICK_S) -> Run:
    client = Client(urls)
    workload = Workload(client, int(client.call(0, "eth_chainId", []), 16))
    workload.set_up()
    watcher = CommitWatcher(urls[0])
    watcher.start()
    with tempfile.TemporaryDirectory(prefix="settle-bench-profile-") as tmp:
        profiler = Profiler(pids or [], Path(tmp), profile and bool(pids))
        measured = None
        if pids:
            time.sleep(1.0)  # the set-up's last block settles
            run.idle_cpu_ms_per_s = idle_cpu(pids)
            console.print(f"[dim]{run.name}: idle CPU ms/s per node {run.idle_cpu_ms_per_s}[/dim]")
            measured = (pids, profiler, run.idle_cpu_ms_per_s)
        try:
            history: list[tuple[float, bool]] = []
            while (rate := next_rate(history)) is not None:
                level = offer(workload, watcher, rate, seconds, tick_s, measured)
                run.levels.append(level)
                history.append((rate, level.ok))
                console.print(f"[dim]{run.name}: {_describe(level)}[/dim]")
                time.sleep(1.0)  # let the pool drain between levels
            best = max(run.levels, key=lambda level: level.tps)
            run.tps = best.tps
            run.saturation_offered_tps = best.offered_tps
            run.cpu_ms_per_tx = best.cpu_ms_per_tx
            run.breakdown = best.breakdown
            run.breakdown_unavailable = profiler.unavailable
            if profiler.unavailable is not None:
                console.print(f"[yellow]{run.name}: no breakdown: {profiler.unavailable}[/yellow]")
            time.sleep(2.0)
            half = offer(workload, watcher, max(1.0, run.tps / 2), seconds, tick_s)
            run.latency_rate_tps = half.offered_tps
            run.latency_p50_ms = half.latency_p50_ms
            run.latency_p99_ms = half.latency_p99_ms
            console.print(f"[dim]{run.name}: at {half.offered_tps:.0f}/s (half of saturation): "
                          f"{half.committed}/{half.sent} committed, "
                          f"p50 {half.latency_p50_ms:.0f} ms, p99 {half.latency_p99_ms:.0f} ms[/dim]")
        finally:
            profiler.stop()
            watcher.stop_event.set()
            watcher.join(5)
    return run


def run_network(validators: int, period_ms: int, seconds: float, console: Any, profile: bool = True,
                p2p: dict[str, Any] | None = None, tick_s: float = TICK_S) -> Run:
    from tests.e2e.network import Network

    with tempfile.TemporaryDirectory(prefix="settle-bench-network-") as tmp:
        net = Network(Path(tmp) / "net", validators, period_ms, p2p=p2p)
        try:
            net.start_all()
            net.wait_for_height(1, timeout=60)
            extra = "".join(f", {key}={value}" for key, value in (p2p or {}).items())
            run = Run(f"{validators} validators, {period_ms} ms{extra}", validators, period_ms, p2p=dict(p2p or {}))
            pids = [node.process.pid for node in net.nodes if node.process is not None]
            return measure(run, [node.url for node in net.nodes], seconds, console, pids, profile, tick_s)
        finally:
            net.stop_all()


def run_dev(period_ms: int, seconds: float, console: Any, profile: bool = True, tick_s: float = TICK_S) -> Run:
    from tests.e2e.node_process import DevNode

    with tempfile.TemporaryDirectory(prefix="settle-bench-dev-") as tmp:
        node = DevNode(Path(tmp) / "chain", block_period=period_ms / 1000).start(timeout=60)
        try:
            assert node.process is not None
            return measure(Run(f"dev, {period_ms} ms", 1, period_ms), [node.url], seconds, console,
                           [node.process.pid], profile, tick_s)
        finally:
            node.stop()


def parse_p2p_overrides(items: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs for the validators' ``[p2p]`` section; true/false and integers are typed."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        value: Any = text.strip()
        if value.lower() in ("true", "false"):
            value = value.lower() == "true"
        elif value.lstrip("-").isdigit():
            value = int(value)
        overrides[key.strip()] = value
    return overrides


def main(seconds: float = DEFAULT_SECONDS, periods: tuple[int, ...] = (1000, 200), validators: int = 4,
         out: Path | str | None = DEFAULT_OUT, profile: bool = True, dev_period: int = 200, dev: bool = True,
         p2p: dict[str, Any] | None = None, tick_ms: float = TICK_S * 1000) -> int:
    import os

    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    tick_s = tick_ms / 1000
    load_before = os.getloadavg()
    started = time.monotonic()
    runs = [run_network(validators, period, seconds, console, profile, p2p, tick_s) for period in periods]
    baseline = run_dev(dev_period, seconds, console, profile, tick_s) if dev else None
    load_after = os.getloadavg()

    table = Table(title="ERC-20 transfers through JSON-RPC on a local validator network")
    for column in ("configuration", "saturation TPS", "offered at half", "p50 ms", "p99 ms", "vs dev",
                   "CPU ms/tx total", "net of idle", "per node", "idle ms/s per node", "load gen"):
        table.add_column(column, justify="right")
    for run in [*runs, *([baseline] if baseline else [])]:
        cpu = run.cpu_ms_per_tx
        table.add_row(run.name, f"{run.tps:.1f}", f"{run.latency_rate_tps:.0f}/s", f"{run.latency_p50_ms:.0f}",
                      f"{run.latency_p99_ms:.0f}", f"{run.tps / baseline.tps:.2f}" if baseline and baseline.tps
                      else "-",
                      f"{cpu['total']:.2f}" if cpu else "-",
                      f"{cpu['net_of_idle_total']:.2f}" if cpu and "net_of_idle_total" in cpu else "-",
                      " ".join(f"{v:.2f}" for v in cpu["per_validator"]) if cpu else "-",
                      " ".join(f"{v:.0f}" for v in run.idle_cpu_ms_per_s or []) or "-",
                      f"{cpu['load_generator']:.2f}" if cpu else "-")
    console.print(table)
    console.print(_breakdown_table([*runs, *([baseline] if baseline else [])]))
    minutes = (time.monotonic() - started) / 60
    console.print(f"load average (1, 5, 15 min) before {load_before}, after {load_after}; {minutes:.1f} min")
    result = {
        "benchmark": "ERC-20 transfers through JSON-RPC, rising offered load; latency at half of saturation",
        "machine_cores": _cores(),
        "seconds_per_level": seconds,
        "tick_ms": tick_ms,
        "load_average_before": list(load_before),
        "load_average_after": list(load_after),
        "minutes": round(minutes, 1),
        "runs": [asdict(run) for run in runs],
        "dev_tps": baseline.tps if baseline else None,
        "dev": asdict(baseline) if baseline else None,
        "ratios_vs_dev": [run.tps / baseline.tps if baseline and baseline.tps else None for run in runs],
    }
    write_bench_result(result, out, console)
    return 0


def _breakdown_table(runs: list[Run]) -> Any:
    """Per configuration, at its saturation level: % of samples and CPU ms/tx per category, over its nodes."""
    from rich.table import Table

    table = Table(title="Where the nodes' CPU goes at the saturation level: % of samples (CPU ms per tx)")
    table.add_column("category")
    for run in runs:
        table.add_column(run.name, justify="right")
    for name in CATEGORY_NAMES:
        cells = []
        for run in runs:
            if run.breakdown is None:
                cells.append("-")
                continue
            ms = run.breakdown.get("ms_per_tx", {}).get(name)
            cells.append(f"{run.breakdown['percent'][name]:.1f}%" + (f" ({ms:.2f})" if ms else ""))
        table.add_row(name, *cells)
    table.add_row("samples", *(str(run.breakdown["samples"]) if run.breakdown else "-" for run in runs))
    return table


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="seconds of offered load per level")
    parser.add_argument("--periods", default="1000,200", help="block periods in ms, comma-separated")
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--no-profile", action="store_true", help="measure CPU per tx but take no py-spy profile")
    parser.add_argument("--no-dev", action="store_true", help="skip the settle node dev baseline")
    parser.add_argument("--p2p", action="append", default=[], metavar="KEY=VALUE",
                        help="a [p2p] setting for every validator, e.g. compact_proposals=false (repeatable)")
    parser.add_argument("--tick-ms", type=float, default=TICK_S * 1000,
                        help="one JSON-RPC batch per endpoint every this many ms")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    sys.exit(main(args.seconds, tuple(int(p) for p in args.periods.split(",")), args.validators, args.out,
                  not args.no_profile, dev=not args.no_dev, p2p=parse_p2p_overrides(args.p2p),
                  tick_ms=args.tick_ms))
