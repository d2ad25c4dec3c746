"""Raw in-process block execution: ERC-20 transfers/s, Settle's builder vs stock py-evm.

No RPC, no mempool, no consensus: the same pre-signed ERC-20 ``transfer``
transactions (from dev account 0 to rotating recipients) are executed into
blocks of ``txs_per_block`` by

* **stock py-evm**: ``MiningChain.configure(vm_configuration=((0, PragueVM),),
  chain_id=1337)`` with ``mine_all``, on an in-memory ``AtomicDB``;
* **Settle, in memory**: ``vm.block_builder.build_block`` on the Settle chain
  class, on an in-memory ``AtomicDB``;
* **Settle, LevelDB**: the same builder on ``vm.leveldb.LevelDB`` through a
  ``WriteOverlay`` committed with one synced ``write_many`` per block, as the
  node does (without the node's log index).

Each repeat starts from a fresh genesis (the dev genesis of ``settle node dev``),
deploys SettleTestToken in an untimed block, then times ``blocks`` blocks.
Signing and decoding happen before the clock starts; each engine gets freshly
decoded transaction objects (py-evm caches the recovered sender on them).
A run's figure is transfers / wall-clock seconds over its blocks; the report is
the median over repeats, with the min-max spread. ``ratio`` is Settle (in
memory, the same database as stock) over stock. Results are checked (every
receipt succeeded, recipient balances add up, all engines used the same gas),
never the timings.

    python scripts/bench_exec.py [--blocks 3] [--txs-per-block 1000] [--repeats 3]
"""

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eth_abi import encode  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from eth_utils import to_canonical_address, to_checksum_address  # noqa: E402

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


def summarize(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# -- engines ---------------------------------------------------------------------
@dataclass
class Workload:
    genesis: Any
    deploy_raw: bytes
    blocks: list[list[bytes]]
    token: str
    sent: dict[str, int]
    coinbase: bytes
    sender: str
    balances_slot: int = 0


@dataclass
class RunResult:
    seconds: float
    transfers: int
    gas_used: int
    balances: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds


def _decode(chain: Any, raws: list[bytes]) -> list[Any]:
    builder = chain.get_vm().get_transaction_builder()
    return [builder.decode(raw) for raw in raws]


def _succeeded(receipt: Any) -> bool:
    return receipt.state_root == b"\x01"


def _balance(chain: Any, token: str, owner: str, slot: int) -> int:
    """An ERC-20 balance read from the token's storage (``mapping`` entry at ``slot``)."""
    key = keccak(encode(["address", "uint256"], [owner, slot]))
    return chain.get_vm().state.get_storage(to_canonical_address(token), int.from_bytes(key, "big"))


def _balances(chain: Any, work: Workload) -> dict[str, int]:
    return {owner: _balance(chain, work.token, owner, work.balances_slot) for owner in work.sent}


def _find_balances_slot(work: Workload) -> int:
    """The balances mapping's slot: where the deployer's balance equals the minted supply."""
    from eth.db.atomic import AtomicDB

    from vm.block_builder import build_block
    from vm.chain import build_genesis

    chain = build_genesis(AtomicDB(), work.genesis)
    head = chain.get_canonical_head()
    build_block(chain, head, _decode(chain, [work.deploy_raw]), timestamp=1, coinbase=work.coinbase)
    for slot in range(16):
        if _balance(chain, work.token, work.sender, slot) == TOKEN_SUPPLY:
            return slot
    raise RuntimeError("cannot find the ERC-20 balances mapping in the token's storage")


def run_stock(work: Workload) -> RunResult:
    from eth.chains.base import MiningChain
    from eth.db.atomic import AtomicDB
    from eth.vm.forks.prague import PragueVM

    from vm.chain import genesis_params, genesis_state

    chain_class = MiningChain.configure(
        __name__="StockPragueMiningChain", vm_configuration=((0, PragueVM),), chain_id=CHAIN_ID)
    chain = chain_class.from_genesis(AtomicDB(), genesis_params(work.genesis), genesis_state(work.genesis))
    _, receipts, _ = chain.mine_all(_decode(chain, [work.deploy_raw]))
    assert _succeeded(receipts[0]), "stock: token deployment failed"
    blocks = [_decode(chain, raws) for raws in work.blocks]
    gas_used = transfers = 0
    gc.collect()
    start = time.perf_counter()
    for txs in blocks:
        result, receipts, _ = chain.mine_all(txs)
        transfers += len(receipts)
        gas_used += result.imported_block.header.gas_used
    seconds = time.perf_counter() - start
    _check_receipts("stock", receipts, len(blocks[-1]))
    return RunResult(seconds, transfers, gas_used, _balances(chain, work))


def _run_settle(engine: str, work: Workload, reader: Any, open_block: Callable[[], tuple[Any, Callable[[], None]]]) -> RunResult:
    """Deploy, then build the workload's blocks through Settle's builder.

    ``open_block`` gives the chain one block is built on and the function that
    commits it; ``reader`` is the chain that sees committed blocks.
    """
    from vm.block_builder import build_block

    head = reader.get_canonical_head()
    chain, commit = open_block()
    built = build_block(chain, head, _decode(reader, [work.deploy_raw]),
                        timestamp=head.timestamp + 1, coinbase=work.coinbase)
    assert _succeeded(built.receipts[0]), f"{engine}: token deployment failed"
    commit()
    head = built.block.header
    blocks = [_decode(reader, raws) for raws in work.blocks]
    gas_used = transfers = 0
    gc.collect()
    start = time.perf_counter()
    for txs in blocks:
        chain, commit = open_block()
        built = build_block(chain, head, txs, timestamp=head.timestamp + 1, coinbase=work.coinbase)
        commit()
        head = built.block.header
        transfers += len(built.receipts)
        gas_used += head.gas_used
        _check_built(engine, built, len(txs))
    seconds = time.perf_counter() - start
    _check_receipts(engine, built.receipts, len(blocks[-1]))
    assert reader.get_canonical_head() == head, f"{engine}: head not committed"
    return RunResult(seconds, transfers, gas_used, _balances(reader, work))


def run_settle_memory(work: Workload) -> RunResult:
    from eth.db.atomic import AtomicDB

    from vm.chain import build_genesis

    chain = build_genesis(AtomicDB(), work.genesis)
    return _run_settle("settle", work, chain, lambda: (chain, lambda: None))


def run_settle_leveldb(work: Workload) -> RunResult:
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

            return _run_settle("settle/leveldb", work, chain_class(db), open_block)
        finally:
            _release_caches()
            db.close()


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
    from eth.db import header, trie as eth_trie
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


def _check_receipts(engine: str, receipts: Any, expected: int) -> None:
    failed = sum(not _succeeded(r) for r in receipts)
    if len(receipts) != expected or failed:
        raise RuntimeError(f"{engine}: {len(receipts)} receipts for {expected} txs, {failed} failed")


ENGINES: dict[str, Callable[[Workload], RunResult]] = {
    "stock py-evm mine_all (AtomicDB)": run_stock,
    "settle build_block (AtomicDB)": run_settle_memory,
    "settle build_block (LevelDB, synced commit)": run_settle_leveldb,
}


def make_workload(blocks: int, txs_per_block: int) -> Workload:
    from contracts.compiler import load_artifact
    from node.dev import dev_coinbase, dev_genesis
    from node.dev_accounts import DevSigner

    signer = DevSigner.from_mnemonic()
    genesis = dev_genesis(signer)
    sender = signer.accounts[0]
    bytecode = load_artifact("SettleTestToken").bytecode
    token = contract_address(sender.address, 0)
    raws, sent = sign_transfers(sender, token, blocks * txs_per_block, first_nonce=1,
                                chain_id=CHAIN_ID, max_fee_per_gas=MAX_FEE_PER_GAS)
    return Workload(
        genesis=genesis,
        deploy_raw=sign_deploy(sender, bytecode, nonce=0, chain_id=CHAIN_ID,
                               max_fee_per_gas=MAX_FEE_PER_GAS),
        blocks=[raws[i:i + txs_per_block] for i in range(0, len(raws), txs_per_block)],
        token=token,
        sent=sent,
        coinbase=dev_coinbase(),
        sender=sender.address,
    )


def measure(blocks: int = 3, txs_per_block: int = 1000, repeats: int = 3,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every engine ``repeats`` times; returns the JSON-ready results."""
    work = make_workload(blocks, txs_per_block)
    work.balances_slot = _find_balances_slot(work)

    runs: dict[str, list[RunResult]] = {name: [] for name in ENGINES}
    for repeat in range(repeats):
        for name, engine in ENGINES.items():
            _release_caches()
            try:
                result = engine(work)
            finally:
                _release_caches()
            runs[name].append(result)
            if progress:
                progress(f"repeat {repeat + 1}/{repeats} {name}: {result.per_second:,.0f} transfers/s "
                         f"({result.transfers} in {result.seconds:.2f}s)")

    expected_total = blocks * txs_per_block * TRANSFER_AMOUNT
    gas = {result.gas_used for results in runs.values() for result in results}
    if len(gas) != 1:
        raise RuntimeError(f"engines used different gas for the same transactions: {sorted(gas)}")
    for name, results in runs.items():
        for result in results:
            if result.balances != work.sent or sum(result.balances.values()) != expected_total:
                raise RuntimeError(f"{name}: recipient balances do not add up to {expected_total}")

    per_s = {name: [r.per_second for r in results] for name, results in runs.items()}
    stock, settle, settle_ldb = (summarize(per_s[name]) for name in ENGINES)
    return {
        "benchmark": "in-process block execution, ERC-20 transfers",
        "blocks": blocks,
        "txs_per_block": txs_per_block,
        "repeats": repeats,
        "gas_used_per_run": gas.pop(),
        "stock_erc20_per_s": stock["median"],
        "settle_erc20_per_s": settle["median"],
        "settle_leveldb_erc20_per_s": settle_ldb["median"],
        "ratio": settle["median"] / stock["median"],
        "ratio_leveldb": settle_ldb["median"] / stock["median"],
        "engines": {
            name: {"erc20_per_s": summarize(per_s[name]), "runs": per_s[name],
                   "seconds": [r.seconds for r in runs[name]]}
            for name in ENGINES
        },
        "python": sys.version.split()[0],
    }


def wide_console(**kwargs: Any) -> Any:
    """A rich console at least 120 columns wide (rich assumes 80 when piped)."""
    from rich.console import Console

    console = Console(**kwargs)
    if console.width < 120:
        console = Console(width=120, **kwargs)
    return console


def print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"In-process block execution: {result['blocks']} blocks x "
                        f"{result['txs_per_block']} ERC-20 transfers, {result['repeats']} repeats")
    table.add_column("engine")
    table.add_column("transfers/s (median)", justify="right")
    table.add_column("spread (min-max)", justify="right")
    table.add_column("vs stock", justify="right")
    stock = result["stock_erc20_per_s"]
    for name, data in result["engines"].items():
        s = data["erc20_per_s"]
        table.add_row(name, f"{s['median']:,.0f}", f"{s['min']:,.0f} - {s['max']:,.0f}",
                      f"{s['median'] / stock:.2f}x")
    wide_console().print(table)


def main(blocks: int = 3, txs_per_block: int = 1000, *, repeats: int = 3,
         out: Path | str | None = DEFAULT_OUT, quiet: bool = False) -> dict[str, Any]:
    console = wide_console(stderr=True)
    result = measure(blocks, txs_per_block, repeats,
                     progress=None if quiet else (lambda line: console.print(f"[dim]{line}[/dim]")))
    if not quiet:
        print_table(result)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        if not quiet:
            console.print(f"wrote {out}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--txs-per-block", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    main(args.blocks, args.txs_per_block, repeats=args.repeats, out=args.out)
