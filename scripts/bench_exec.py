"""In-process block execution: Settle's fast path vs stock py-evm, on the same blocks.

No RPC, no mempool, no consensus. Four fixed workloads, each ``blocks`` blocks
of ``txs_per_block`` pre-signed type-2 transactions from one dev account:

* ``eth``: plain ETH transfers to rotating recipients;
* ``erc20``: SettleTestToken ``transfer`` to rotating recipients;
* ``dvp``: BenchDvP ``settle`` (contracts/src/test): two ERC-20 ``transferFrom`` legs in one call;
* ``storage``: StorageHeavy ``write(4)``: four fresh storage slots per call.

Every workload's blocks are first built by Settle's ``build_block`` (these are
"the blocks"); then each engine processes them on a fresh in-memory chain:

* **stock build**: py-evm's ``MiningChain.mine_all`` over the same
  transactions, on ``SettleReferenceVM`` (stock py-evm with only Settle's
  zero-base-fee header rule, so that results can be compared exactly);
* **stock import**: py-evm's ``Chain.import_block`` of the blocks (what a
  validator running stock py-evm does); it verifies every root itself;
* **settle build**: ``vm.block_builder.build_block`` (the proposer), recovering
  every sender;
* **settle build (senders known)**: the same, with the senders recovered before
  the clock starts, as the node's proposer has them from mempool admission
  (that cost is ``settle bench admission``'s);
* **settle import**: ``vm.block_import.execute_block`` (a validator);
* **settle import (senders known)**: the same, with the senders the validator's
  mempool already recovered at admission reused (``reuse_known_senders``), as
  the node does for gossiped transactions;
* **settle build, LevelDB**: ``build_block`` on ``vm.leveldb.LevelDB`` through a
  ``WriteOverlay`` committed with one synced ``write_many`` per block, as the node does.

Setup blocks (deployments, approvals) are untimed. Transactions are decoded
before the clock starts, freshly for every engine (py-evm caches the recovered
sender on the object). A run's figure is transactions per **core-second**
(``time.process_time()`` over its timed blocks: the benchmark is single-threaded,
so this is the cost per core, less exposed to other load on the machine than
wall-clock time, which is also recorded). The report is the median over repeats
with the min-max spread; ``ratio`` is settle build over stock build.

The harness's own objects (the signed workload, the reference blocks, the
modules) are moved out of the garbage collector's reach (``gc.freeze``) before
any engine runs, for every engine alike. A full collection otherwise walks
them: on ERC-20 blocks of 1,000 that was about 8% of Settle's build time
(timed with ``gc.callbacks``), work that says nothing about execution and
grows with the harness, not the block. ``--no-gc-freeze`` measures without it;
the JSON result records which (``gc_setup_frozen``).

Results are checked, never the timings: every receipt succeeded, and every
engine's state root, transaction root, receipt root and gas used equal those
of the blocks, block by block (stock import checks the full hash itself).
With ``--profile`` (on by default) one extra block of each workload is run
under cProfile for stock build and settle build, and the top functions are
reported.

    python scripts/bench_exec.py [--blocks 2] [--txs-per-block 1000] [--repeats 3]
        [--workloads eth,erc20,dvp,storage] [--no-profile] [--no-gc-freeze]
"""

import argparse
import contextlib
import gc
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_hash.auto import keccak
from eth_utils import to_canonical_address, to_checksum_address

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from node.bench_scripts import summarize, write_bench_result  # noqa: E402  (needs REPO on the path)

CHAIN_ID = 1337
TRANSFER_SELECTOR = keccak(b"transfer(address,uint256)")[:4]
BALANCE_OF_SELECTOR = keccak(b"balanceOf(address)")[:4]
TRANSFER_GAS = 60_000
DEPLOY_GAS = 3_000_000
TOKEN_SUPPLY = 10**9 * 10**18
TRANSFER_AMOUNT = 10**15
RECIPIENT_COUNT = 100
# Stock py-evm applies EIP-1559: after a block above its gas target the base fee
# rises from 0 to a few wei. 1 gwei covers it; Settle's base fee stays 0 and the
# priority fee is 0, so the figures do not depend on fees.
MAX_FEE_PER_GAS = 10**9
DEFAULT_OUT = REPO / "bench-results" / "exec.json"


# -- the workload (shared with bench_rpc.py) ------------------------------------
def recipients(count: int = RECIPIENT_COUNT) -> list[str]:
    """Deterministic recipient addresses nobody holds keys for."""
    return [to_checksum_address(keccak(b"settle bench recipient %d" % i)[12:]) for i in range(count)]


def transfer_calldata(to: str, amount: int) -> bytes:
    return TRANSFER_SELECTOR + encode(["address", "uint256"], [to, amount])


def balance_of_calldata(owner: str) -> bytes:
    return BALANCE_OF_SELECTOR + encode(["address"], [owner])


def deploy_calldata(bytecode: bytes, supply: int = TOKEN_SUPPLY) -> bytes:
    return bytecode + encode(["string", "string", "uint256"], ["Settle Bench Token", "SBT", supply])


def contract_address(sender: str, nonce: int) -> str:
    import rlp

    return to_checksum_address(keccak(rlp.encode([to_canonical_address(sender), nonce]))[12:])


def sign_transfers(
    account: Any, token: str, count: int, *, first_nonce: int, chain_id: int,
    max_fee_per_gas: int, max_priority_fee_per_gas: int = 0, amount: int = TRANSFER_AMOUNT,
    gas: int = TRANSFER_GAS, pool: list[str] | None = None,
) -> tuple[list[bytes], dict[str, int]]:
    """``count`` signed type-2 ``transfer`` txs with explicit nonces; returns raw txs and amounts per recipient."""
    pool = pool or recipients()
    raws: list[bytes] = []
    sent: dict[str, int] = {}
    for i in range(count):
        to = pool[i % len(pool)]
        signed = account.sign_transaction({
            "type": 2, "chainId": chain_id, "nonce": first_nonce + i, "to": token, "value": 0,
            "gas": gas, "maxFeePerGas": max_fee_per_gas,
            "maxPriorityFeePerGas": max_priority_fee_per_gas,
            "data": transfer_calldata(to, amount),
        })
        raws.append(bytes(signed.raw_transaction))
        sent[to] = sent.get(to, 0) + amount
    return raws, sent


def sign_deploy(account: Any, bytecode: bytes, *, nonce: int, chain_id: int, max_fee_per_gas: int) -> bytes:
    signed = account.sign_transaction({
        "type": 2, "chainId": chain_id, "nonce": nonce, "value": 0, "gas": DEPLOY_GAS,
        "maxFeePerGas": max_fee_per_gas, "maxPriorityFeePerGas": 0,
        "data": deploy_calldata(bytecode),
    })
    return bytes(signed.raw_transaction)


# -- workloads -------------------------------------------------------------------
WORKLOADS = ("eth", "erc20", "dvp", "storage")
#: Headroom for 1,000 calls of up to CALL_GAS each; the dev chain's 60M would not hold a DvP block.
BENCH_GAS_LIMIT = 400_000_000
CALL_GAS = 200_000
APPROVE_SELECTOR = keccak(b"approve(address,uint256)")[:4]
SETTLE_SELECTOR = keccak(b"settle(address,address,address,address,uint256,uint256)")[:4]
WRITE_SELECTOR = keccak(b"write(uint256)")[:4]
DVP_BUYERS = 4
STORAGE_SLOTS_PER_CALL = 4


@dataclass
class Workload:
    name: str
    genesis: Any
    coinbase: bytes
    setup: list[list[bytes]]
    """Raw transactions of the untimed blocks (deployments, approvals)."""
    blocks: list[list[bytes]]
    """Raw transactions of the timed blocks."""


def _call(account: Any, nonce: int, to: str | None, data: bytes = b"", *, value: int = 0,
          gas: int = CALL_GAS) -> bytes:
    fields = {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "value": value, "gas": gas,
              "maxFeePerGas": MAX_FEE_PER_GAS, "maxPriorityFeePerGas": 0, "data": data}
    if to is not None:
        fields["to"] = to
    return bytes(account.sign_transaction(fields).raw_transaction)


def make_workload(name: str, blocks: int, txs_per_block: int) -> Workload:
    """The fixed transactions of workload ``name`` (one of :data:`WORKLOADS`)."""
    import dataclasses

    from contracts.compiler import load_artifact
    from node.dev import dev_coinbase, dev_genesis
    from node.dev_accounts import DevSigner

    signer = DevSigner.from_mnemonic()
    genesis = dataclasses.replace(dev_genesis(signer), gas_limit=BENCH_GAS_LIMIT)
    operator = signer.accounts[0]
    count = blocks * txs_per_block
    pool = recipients()
    setup: list[bytes] = []
    if name == "eth":
        txs = [_call(operator, i, pool[i % len(pool)], value=TRANSFER_AMOUNT, gas=21_000) for i in range(count)]
    elif name == "erc20":
        token = contract_address(operator.address, 0)
        setup = [sign_deploy(operator, load_artifact("SettleTestToken").bytecode, nonce=0,
                             chain_id=CHAIN_ID, max_fee_per_gas=MAX_FEE_PER_GAS)]
        txs, _ = sign_transfers(operator, token, count, first_nonce=1, chain_id=CHAIN_ID,
                                max_fee_per_gas=MAX_FEE_PER_GAS, pool=pool)
    elif name == "dvp":
        token_code = load_artifact("SettleTestToken").bytecode
        asset, cash, dvp = (contract_address(operator.address, n) for n in range(3))
        buyers = signer.accounts[1:1 + DVP_BUYERS]
        setup = [
            sign_deploy(operator, token_code, nonce=0, chain_id=CHAIN_ID, max_fee_per_gas=MAX_FEE_PER_GAS),
            sign_deploy(operator, token_code, nonce=1, chain_id=CHAIN_ID, max_fee_per_gas=MAX_FEE_PER_GAS),
            _call(operator, 2, None, load_artifact("BenchDvP").bytecode, gas=DEPLOY_GAS),
            _call(operator, 3, asset, APPROVE_SELECTOR + encode(["address", "uint256"], [dvp, 2**256 - 1])),
        ]
        nonce = 4
        for buyer in buyers:
            setup.append(_call(operator, nonce, cash, transfer_calldata(buyer.address, TOKEN_SUPPLY // 8)))
            setup.append(_call(buyer, 0, cash, APPROVE_SELECTOR + encode(["address", "uint256"], [dvp, 2**256 - 1])))
            nonce += 1
        txs = [
            _call(operator, nonce + i, dvp, SETTLE_SELECTOR + encode(
                ["address", "address", "address", "address", "uint256", "uint256"],
                [asset, cash, operator.address, buyers[i % len(buyers)].address, 1 + i % 7, 100 + i % 13]))
            for i in range(count)
        ]
    elif name == "storage":
        heavy = contract_address(operator.address, 0)
        setup = [_call(operator, 0, None, load_artifact("StorageHeavy").bytecode, gas=DEPLOY_GAS)]
        calldata = WRITE_SELECTOR + encode(["uint256"], [STORAGE_SLOTS_PER_CALL])
        txs = [_call(operator, 1 + i, heavy, calldata) for i in range(count)]
    else:
        raise ValueError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    return Workload(
        name=name, genesis=genesis, coinbase=dev_coinbase(),
        setup=[setup] if setup else [],
        blocks=[txs[i:i + txs_per_block] for i in range(0, len(txs), txs_per_block)],
    )


# -- engines ---------------------------------------------------------------------
@dataclass
class RunResult:
    cpu_seconds: float
    wall_seconds: float
    transactions: int
    gas_used: int

    @property
    def per_core_second(self) -> float:
        return self.transactions / self.cpu_seconds

    @property
    def per_second(self) -> float:
        return self.transactions / self.wall_seconds


class _Clock:
    """Accumulates CPU and wall time (and optionally a profile) over the timed blocks."""

    def __init__(self, profiler: Any = None) -> None:
        self.cpu = self.wall = 0.0
        self.profiler = profiler

    def __enter__(self) -> "_Clock":
        if self.profiler is not None:
            self.profiler.enable()
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cpu += time.process_time() - self._cpu
        self.wall += time.perf_counter() - self._wall
        if self.profiler is not None:
            self.profiler.disable()


def _decode(chain: Any, raws: list[bytes]) -> list[Any]:
    builder = chain.get_vm().get_transaction_builder()
    return [builder.decode(raw) for raw in raws]


def _succeeded(receipt: Any) -> bool:
    return receipt.state_root == b"\x01"


def _check_receipts(engine: str, receipts: Any, expected: int) -> None:
    failed = sum(not _succeeded(r) for r in receipts)
    if len(receipts) != expected or failed:
        raise RuntimeError(f"{engine}: {len(receipts)} receipts for {expected} txs, {failed} failed")


def _check_same(engine: str, header: Any, reference: Any) -> None:
    """The fields execution computes must equal those of the reference blocks."""
    for field in ("state_root", "transaction_root", "receipt_root", "bloom", "gas_used"):
        if getattr(header, field) != getattr(reference, field):
            raise RuntimeError(f"{engine}: block #{header.block_number} {field} differs from the reference blocks")


def build_reference_blocks(work: Workload) -> list[Any]:
    """Every block of the workload (setup and timed), built by Settle's builder."""
    from eth.db.atomic import AtomicDB

    from vm.block_builder import build_block
    from vm.chain import build_genesis

    chain = build_genesis(AtomicDB(), work.genesis)
    head = chain.get_canonical_head()
    blocks = []
    for raws in work.setup + work.blocks:
        built = build_block(chain, head, _decode(chain, raws), timestamp=head.timestamp + 1, coinbase=work.coinbase)
        _check_built("reference", built, len(raws))
        _check_receipts("reference", built.receipts, len(raws))
        head = built.block.header
        blocks.append(built.block)
    return blocks


def run_settle_build(work: Workload, blocks: list[Any], profiler: Any = None,
                     senders_known: bool = False) -> RunResult:
    from eth.db.atomic import AtomicDB

    from vm.chain import build_genesis

    chain = build_genesis(AtomicDB(), work.genesis)
    engine = "settle build (senders known)" if senders_known else "settle build"
    return _settle_build(engine, work, blocks, chain, lambda: (chain, lambda: None), profiler, senders_known)


def run_settle_build_senders_known(work: Workload, blocks: list[Any], profiler: Any = None) -> RunResult:
    return run_settle_build(work, blocks, profiler, senders_known=True)


def run_settle_leveldb(work: Workload, blocks: list[Any], profiler: Any = None) -> RunResult:
    from vm.chain import build_genesis, chain_class_for
    from vm.leveldb import LevelDB, WriteOverlay

    with tempfile.TemporaryDirectory(prefix="settle-bench-exec-") as tmp:
        db = LevelDB(Path(tmp) / "chain")
        try:
            overlay = WriteOverlay(db)
            build_genesis(overlay, work.genesis)
            db.write_many(overlay.pending())
            chain_class = chain_class_for(work.genesis.chain_id)

            def open_block() -> tuple[Any, Callable[[], None]]:
                block_overlay = WriteOverlay(db)
                return chain_class(block_overlay), lambda: db.write_many(block_overlay.pending())

            return _settle_build("settle build (LevelDB)", work, blocks, chain_class(db), open_block, profiler)
        finally:
            _release_caches()
            db.close()


def _settle_build(engine: str, work: Workload, blocks: list[Any], reader: Any,
                  open_block: Callable[[], tuple[Any, Callable[[], None]]], profiler: Any,
                  senders_known: bool = False) -> RunResult:
    """Build every block with ``build_block``; only the workload's own blocks are timed.

    ``open_block`` gives the chain one block is built on and the function that
    commits it; ``reader`` is the chain that sees committed blocks. With
    ``senders_known``, the senders are recovered before the clock starts.
    """
    from vm.block_builder import build_block
    from vm.senders import prefill_senders

    head = reader.get_canonical_head()
    decoded = [_decode(reader, raws) for raws in work.setup + work.blocks]
    if senders_known:
        for txs in decoded:
            prefill_senders(txs)
    clock = _Clock(profiler)
    gas_used = transactions = 0
    gc.collect()
    for index, (txs, reference) in enumerate(zip(decoded, blocks, strict=True)):
        timed = index >= len(work.setup)
        chain, commit = open_block()
        if timed:
            with clock:
                built = build_block(chain, head, txs, timestamp=head.timestamp + 1, coinbase=work.coinbase)
                commit()
            transactions += len(built.receipts)
            gas_used += built.block.header.gas_used
        else:
            built = build_block(chain, head, txs, timestamp=head.timestamp + 1, coinbase=work.coinbase)
            commit()
        _check_built(engine, built, len(txs))
        _check_receipts(engine, built.receipts, len(txs))
        if built.block.hash != reference.hash:
            raise RuntimeError(f"{engine}: block #{built.block.number} differs from the reference blocks")
        head = built.block.header
    if reader.get_canonical_head() != head:
        raise RuntimeError(f"{engine}: head not committed")
    return RunResult(clock.cpu, clock.wall, transactions, gas_used)


def run_settle_import(work: Workload, blocks: list[Any], profiler: Any = None,
                      senders_known: bool = False) -> RunResult:
    """``vm.block_import.execute_block`` on fresh blocks, as a validator re-executes a proposal.

    With ``senders_known``, every transaction also sits, separately decoded and
    with its sender recovered (untimed, as mempool admission did it), in a
    by-hash index, and the timed part includes ``reuse_known_senders`` over it:
    what the node's ``Backend.execute_block`` does for gossiped transactions.
    """
    from eth.db.atomic import AtomicDB

    from vm.block_import import execute_block, reuse_known_senders
    from vm.chain import build_genesis

    chain = build_genesis(AtomicDB(), work.genesis)
    head = chain.get_canonical_head()
    fresh = _fresh_blocks(chain, blocks)
    mempool: dict[bytes, Any] = {}
    if senders_known:
        for block in _fresh_blocks(chain, blocks):
            for transaction in block.transactions:
                transaction.sender  # noqa: B018 -- recovered at admission, before the clock
                mempool[transaction.hash] = transaction
    clock = _Clock(profiler)
    gas_used = transactions = 0
    gc.collect()
    for index, block in enumerate(fresh):
        if index >= len(work.setup):
            with clock:
                if senders_known:
                    reuse_known_senders(block.transactions, mempool.get)
                executed = execute_block(chain, head, block)
            transactions += len(executed.receipts)
            gas_used += executed.block.header.gas_used
        else:
            executed = execute_block(chain, head, block)
        _check_receipts("settle import", executed.receipts, len(block.transactions))
        head = executed.block.header
    return RunResult(clock.cpu, clock.wall, transactions, gas_used)


def run_settle_import_senders_known(work: Workload, blocks: list[Any], profiler: Any = None) -> RunResult:
    return run_settle_import(work, blocks, profiler, senders_known=True)


def run_stock_import(work: Workload, blocks: list[Any], profiler: Any = None) -> RunResult:
    """py-evm's ``Chain.import_block``: it re-executes and rejects any block that differs."""
    from eth.db.atomic import AtomicDB

    from vm.chain import build_genesis, reference_chain_class_for

    chain = build_genesis(AtomicDB(), work.genesis, reference_chain_class_for(work.genesis.chain_id))
    fresh = _fresh_blocks(chain, blocks)
    clock = _Clock(profiler)
    gas_used = transactions = 0
    gc.collect()
    for index, block in enumerate(fresh):
        if index >= len(work.setup):
            with clock:
                imported = chain.import_block(block).imported_block
            transactions += len(imported.transactions)
            gas_used += imported.header.gas_used
        else:
            chain.import_block(block)
    return RunResult(clock.cpu, clock.wall, transactions, gas_used)


def run_stock_build(work: Workload, blocks: list[Any], profiler: Any = None) -> RunResult:
    """py-evm's ``MiningChain.mine_all`` on the reference VM, over the same transactions."""
    from eth.chains.base import MiningChain
    from eth.db.atomic import AtomicDB

    from vm.chain import genesis_params, genesis_state
    from vm.fork import SettleReferenceVM

    chain_class = MiningChain.configure(
        __name__="StockSettleMiningChain", vm_configuration=((0, SettleReferenceVM),), chain_id=CHAIN_ID)
    chain = chain_class.from_genesis(AtomicDB(), genesis_params(work.genesis), genesis_state(work.genesis))
    decoded = [_decode(chain, raws) for raws in work.setup + work.blocks]
    clock = _Clock(profiler)
    gas_used = transactions = 0
    gc.collect()
    for index, (txs, reference) in enumerate(zip(decoded, blocks, strict=True)):
        fields = {"timestamp": reference.header.timestamp, "coinbase": work.coinbase}
        if index >= len(work.setup):
            with clock:
                result, receipts, _ = chain.mine_all(txs, **fields)
            transactions += len(receipts)
            gas_used += result.imported_block.header.gas_used
        else:
            result, receipts, _ = chain.mine_all(txs, **fields)
        _check_receipts("stock build", receipts, len(txs))
        # mine_all skips Prague's block post-processing (requests hash), so the
        # hashes differ; everything execution computes must not.
        _check_same("stock build", result.imported_block.header, reference.header)
    return RunResult(clock.cpu, clock.wall, transactions, gas_used)


def _fresh_blocks(chain: Any, blocks: list[Any]) -> list[Any]:
    """Blocks decoded anew from their encoding, so no engine reuses another's cached senders."""
    import rlp

    block_class = chain.get_vm_class(blocks[0].header).get_block_class()
    return [rlp.decode(rlp.encode(block), sedes=block_class) for block in blocks]


def _release_caches() -> None:
    """Empty py-evm's and trie's ``functools.lru_cache``s between runs.

    * ``eth.db.trie._make_trie_root_and_nodes`` and
      ``eth.db.header._decode_block_header`` are keyed by content: every engine
      builds the same transaction and receipt tries, so without this a run
      would reuse the roots computed by the previous engine.
    * ``ChainDB`` and ``HexaryTrie`` memoize methods, keyed by the instance (and
      so its database): without this every run's state stays in memory and a
      closed LevelDB lives until interpreter shutdown (and fails noisily there).
    """
    from eth.db import header
    from eth.db import trie as eth_trie
    from eth.db.chain import ChainDB
    from trie.hexary import HexaryTrie

    eth_trie._make_trie_root_and_nodes.cache_clear()
    header._decode_block_header.cache_clear()
    for cls in (ChainDB, HexaryTrie):
        for attribute in vars(cls).values():
            if hasattr(attribute, "cache_clear"):
                attribute.cache_clear()


def _check_built(engine: str, built: Any, expected: int) -> None:
    if built.excluded or built.deferred or len(built.receipts) != expected:
        reasons = {e.reason for e in built.excluded}
        raise RuntimeError(
            f"{engine}: block held {len(built.receipts)}/{expected} transactions "
            f"({len(built.excluded)} excluded {sorted(reasons)[:3]}, {len(built.deferred)} deferred)")


Engine = Callable[..., RunResult]
ENGINES: dict[str, Engine] = {
    "stock build": run_stock_build,
    "stock import": run_stock_import,
    "settle build": run_settle_build,
    "settle build (senders known)": run_settle_build_senders_known,
    "settle import": run_settle_import,
    "settle import (senders known)": run_settle_import_senders_known,
    "settle build (LevelDB)": run_settle_leveldb,
}
PROFILED_ENGINES = ("stock build", "settle build")


def profile_summary(profiler: Any, top: int = 15) -> list[dict[str, Any]]:
    """The ``top`` functions by own time, as JSON-ready rows."""
    import pstats

    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.split("site-packages/")[-1].replace(str(REPO) + "/", "")
        rows.append({"function": f"{short}:{line}({function})", "calls": calls,
                     "own_s": round(own, 4), "cumulative_s": round(cumulative, 4),
                     "own_share": round(own / total, 4) if total else 0.0})
    rows.sort(key=lambda row: row["own_s"], reverse=True)
    return rows[:top]


@contextlib.contextmanager
def _frozen_out_of_gc(enabled: bool) -> Iterator[None]:
    """The objects alive now (the harness's) kept out of the garbage collector's walks until the block ends."""
    if enabled:
        gc.collect()
        gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _time_engines(name: str, work: Workload, reference: list[Any], repeats: int,
                  progress: Callable[[str], None] | None) -> dict[str, list[RunResult]]:
    """Every engine on ``work``, ``repeats`` times, engines interleaved within each repeat."""
    runs: dict[str, list[RunResult]] = {engine: [] for engine in ENGINES}
    for repeat in range(repeats):
        for engine, run in ENGINES.items():
            _release_caches()
            try:
                result = run(work, reference)
            finally:
                _release_caches()
            runs[engine].append(result)
            if progress:
                progress(f"{name} {repeat + 1}/{repeats} {engine}: {result.per_core_second:,.0f} tx/core-s "
                         f"({result.transactions} in {result.cpu_seconds:.2f} core-s, {result.wall_seconds:.2f} s)")
    return runs


def _profile_builders(work: Workload, reference: list[Any]) -> dict[str, Any]:
    """One extra block of ``work`` under cProfile for each of :data:`PROFILED_ENGINES`."""
    import cProfile

    one_block = Workload(work.name, work.genesis, work.coinbase, work.setup, work.blocks[:1])
    profiles = {}
    for engine in PROFILED_ENGINES:
        profiler = cProfile.Profile()
        _release_caches()
        try:
            ENGINES[engine](one_block, reference[:len(work.setup) + 1], profiler)
        finally:
            _release_caches()
        profiles[engine] = profile_summary(profiler)
    return profiles


def measure(blocks: int = 2, txs_per_block: int = 1000, repeats: int = 3,
            progress: Callable[[str], None] | None = None, workloads: tuple[str, ...] = WORKLOADS,
            profile: bool = True, gc_freeze: bool = True) -> dict[str, Any]:
    """Run every engine on every workload ``repeats`` times; returns the JSON-ready results."""
    report: dict[str, Any] = {}
    for name in workloads:
        work = make_workload(name, blocks, txs_per_block)
        _release_caches()
        reference = build_reference_blocks(work)
        with _frozen_out_of_gc(gc_freeze):
            runs = _time_engines(name, work, reference, repeats, progress)
            profiles = _profile_builders(work, reference) if profile else None
        gas = {result.gas_used for results in runs.values() for result in results}
        if len(gas) != 1:
            raise RuntimeError(f"{name}: engines used different gas for the same transactions: {sorted(gas)}")
        per_core = {engine: summarize([r.per_core_second for r in results]) for engine, results in runs.items()}
        entry: dict[str, Any] = {
            "gas_used_per_run": gas.pop(),
            "transactions_per_run": blocks * txs_per_block,
            "engines": {
                engine: {"per_core_s": per_core[engine],
                         "runs_per_core_s": [r.per_core_second for r in results],
                         "runs_wall_per_s": [r.per_second for r in results],
                         "core_seconds": [r.cpu_seconds for r in results]}
                for engine, results in runs.items()
            },
            "ratio_build": per_core["settle build"]["median"] / per_core["stock build"]["median"],
            "ratio_import": per_core["settle import"]["median"] / per_core["stock import"]["median"],
        }
        if profiles is not None:
            entry["profile"] = profiles
        report[name] = entry

    result: dict[str, Any] = {
        "benchmark": "in-process block execution, transactions per core-second (process CPU time)",
        "blocks": blocks,
        "txs_per_block": txs_per_block,
        "repeats": repeats,
        "workloads": report,
        "python": sys.version.split()[0],
        "gc_setup_frozen": gc_freeze,
    }
    if "erc20" in report:
        engines = report["erc20"]["engines"]
        result["stock_erc20_per_s"] = engines["stock build"]["per_core_s"]["median"]
        result["settle_erc20_per_s"] = engines["settle build"]["per_core_s"]["median"]
        result["settle_leveldb_erc20_per_s"] = engines["settle build (LevelDB)"]["per_core_s"]["median"]
        result["stock_import_erc20_per_s"] = engines["stock import"]["per_core_s"]["median"]
        result["settle_import_erc20_per_s"] = engines["settle import"]["per_core_s"]["median"]
        result["settle_import_senders_known_erc20_per_s"] = (
            engines["settle import (senders known)"]["per_core_s"]["median"])
        result["settle_build_senders_known_erc20_per_s"] = (
            engines["settle build (senders known)"]["per_core_s"]["median"])
        result["ratio"] = report["erc20"]["ratio_build"]
        result["ratio_import"] = report["erc20"]["ratio_import"]
    return result


def wide_console(**kwargs: Any) -> Any:
    """A rich console at least 120 columns wide (rich assumes 80 when piped)."""
    from rich.console import Console

    console = Console(**kwargs)
    if console.width < 120:
        console = Console(width=120, **kwargs)
    return console


def print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    console = wide_console()
    table = Table(title=f"In-process block execution: {result['blocks']} blocks x {result['txs_per_block']} "
                        f"transactions per workload, {result['repeats']} repeats, transactions per core-second"
                        + (", harness objects frozen out of the GC" if result.get("gc_setup_frozen") else ""))
    table.add_column("workload")
    table.add_column("engine")
    table.add_column("tx/core-s (median)", justify="right")
    table.add_column("spread (min-max)", justify="right")
    table.add_column("vs stock", justify="right")
    for name, entry in result["workloads"].items():
        engines = entry["engines"]
        for engine, data in engines.items():
            stock = engines["stock import" if "import" in engine else "stock build"]["per_core_s"]["median"]
            s = data["per_core_s"]
            table.add_row(name, engine, f"{s['median']:,.0f}", f"{s['min']:,.0f} - {s['max']:,.0f}",
                          f"{s['median'] / stock:.2f}x")
        table.add_section()
    console.print(table)
    profile = result["workloads"].get("erc20", {}).get("profile")
    if profile:
        for engine, rows in profile.items():
            top = Table(title=f"erc20, {engine}: top functions by own time (cProfile, one block)")
            top.add_column("function")
            top.add_column("calls", justify="right")
            top.add_column("own s", justify="right")
            top.add_column("share", justify="right")
            for row in rows[:12]:
                top.add_row(row["function"][-90:], f"{row['calls']:,}", f"{row['own_s']:.3f}",
                            f"{row['own_share']:.1%}")
            console.print(top)


def main(blocks: int = 2, txs_per_block: int = 1000, *, repeats: int = 3,
         workloads: tuple[str, ...] = WORKLOADS, profile: bool = True,
         out: Path | str | None = DEFAULT_OUT, quiet: bool = False, gc_freeze: bool = True) -> dict[str, Any]:
    console = wide_console(stderr=True)
    result = measure(blocks, txs_per_block, repeats, workloads=workloads, profile=profile, gc_freeze=gc_freeze,
                     progress=None if quiet else (lambda line: console.print(f"[dim]{line}[/dim]")))
    if not quiet:
        print_table(result)
    write_bench_result(result, out, None if quiet else console)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--txs-per-block", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                        help="leave the harness's objects to the garbage collector during the timed runs")
    args = parser.parse_args()
    main(args.blocks, args.txs_per_block, repeats=args.repeats, workloads=tuple(args.workloads.split(",")),
         profile=args.profile, out=args.out, gc_freeze=args.gc_freeze)
