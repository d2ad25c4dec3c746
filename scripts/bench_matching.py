"""The matching engine: native vs Python reference, through the EVM, and the cost of its consensus state.

All in one process, single-threaded; figures are per **core-second**
(``time.process_time()``), the median and min-max over ``repeats``.

* **Native and Python engines** run the same realistic mixed stream (seeded):
  about 60% limit orders around a drifting mid price (a third of them
  crossing), 8% market, 6% IOC, 2% FOK, 4% post-only, 14% cancels and 6%
  amends of recent orders, for 16 owners, in calls of ``CALL_SIZE``
  commands (as a ``submit`` carries them), with the undo log on and cleared
  after each call, as between transactions. ``native_orders_per_s`` counts
  commands (orders, cancels, amends) per second; the Python reference runs
  the first ``python_commands`` of the same stream, and its events are
  checked to be byte-identical to the native engine's.
* **Latency**: one command per call, through the Python binding (so it
  includes the call), p50 and p99 over ``latency_commands`` calls.
* **Through the EVM**: blocks built by ``vm.block_builder.build_block`` on an
  in-memory chain, with
  - ``evm_orders_per_s``: the ``Exchange`` contract's ``placeOrders`` batch
    (``EVM_BATCH`` orders per transaction from four members), each fill
    settled delivery-versus-payment in the same transaction (the balances are
    checked afterwards);
  - ``evm_raw_orders_per_s``: ``submit`` calls sent straight to the
    precompile (``RAW_BATCH`` commands per transaction, no settlement), and
    the CPU per gas of those transactions (Settle's rule: gas must bound time).
* **State commitment**: serialising and hashing the engine (done once per
  block that changed it) and loading it (once per block that uses it), at the
  book size the native stream left; **undo-log rollback** per call, for a
  call of one command and of ``CALL_SIZE``.

    python scripts/bench_matching.py [--commands 500000] [--python-commands 50000] [--repeats 3]
"""

import argparse
import hashlib
import random
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from node.bench_scripts import summarize, write_bench_result  # noqa: E402  (needs REPO on the path)

DEFAULT_OUT = REPO / "bench-results" / "matching.json"
CALL_SIZE = 256
OPERATOR = b"\x0b" * 20
EVM_BATCH = 50
EVM_TXS_PER_BLOCK = 20
RAW_BATCH = 1000
RAW_TXS_PER_BLOCK = 10
CHAIN_ID = 1337
_WORD = struct.Struct(">BBB5xQQQ")


def make_stream(count: int, seed: int = 20) -> list[bytes]:
    """``count`` 32-byte commands, in calls of CALL_SIZE (the last may be shorter)."""
    rng = random.Random(seed)
    mid = 10_000
    next_id = 1
    recent: list[int] = []
    words: list[bytes] = []
    pack = _WORD.pack
    for _ in range(count):
        mid = max(1_000, mid + rng.choice((-1, 0, 0, 1)))
        roll = rng.random()
        owner = rng.randrange(1, 17)
        side = rng.randrange(2)
        if roll < 0.80:
            if roll < 0.60:
                kind = 0
                offset = rng.randrange(1, 40)
                price = mid - offset if side == 0 else mid + offset
                if rng.random() < 0.33:
                    price = mid + rng.randrange(0, 5) if side == 0 else mid - rng.randrange(0, 5)
            elif roll < 0.68:
                kind, price = 1, 0
            elif roll < 0.74:
                kind, price = 2, mid + (3 if side == 0 else -3)
            elif roll < 0.76:
                kind, price = 3, mid + (5 if side == 0 else -5)
            else:
                kind, price = 4, mid - 2 if side == 0 else mid + 2
            words.append(pack(1, side, kind, owner, price, rng.randrange(1, 200)))
            recent.append(next_id)
            next_id += 1
            if len(recent) > 2_000:
                recent = recent[-1_000:]
        elif roll < 0.94 and recent:
            words.append(pack(2, 0, 0, rng.choice(recent), 0, 0))
        elif recent:
            words.append(pack(3, 0, 0, rng.choice(recent), mid + rng.randrange(-30, 30), rng.randrange(0, 200)))
        else:
            words.append(pack(1, side, 0, owner, mid, 1))
    return [b"".join(words[i:i + CALL_SIZE]) for i in range(0, len(words), CALL_SIZE)]


def run_engine(engine_class: Any, calls: list[bytes]) -> tuple[float, Any, list[bytes]]:
    engine = engine_class()
    book = engine.create_book(OPERATOR, 2, False)
    outputs: list[bytes] = []
    start = time.process_time()
    for call in calls:
        events, _, _ = engine.execute(OPERATOR, book, call)
        outputs.append(events)
        engine.clear_log()
    return time.process_time() - start, engine, outputs


def measure_engines(commands: int, python_commands: int, repeats: int) -> dict[str, Any]:
    from vm.matching import NativeEngine, ReferenceEngine

    calls = make_stream(commands)
    python_calls = calls[: max(1, python_commands // CALL_SIZE)]
    native_rates, python_rates = [], []
    engine: Any = None
    for _ in range(repeats):
        seconds, engine, _ = run_engine(NativeEngine, calls)
        native_rates.append(commands / seconds)
    python_count = sum(len(c) // 32 for c in python_calls)
    native_outputs = run_engine(NativeEngine, python_calls)[2]
    for _ in range(repeats):
        seconds, reference, outputs = run_engine(ReferenceEngine, python_calls)
        python_rates.append(python_count / seconds)
        if outputs != native_outputs:
            raise SystemExit("the Python reference's events differ from the native engine's")
    native_partial = run_engine(NativeEngine, python_calls)[1]
    if native_partial.serialize() != reference.serialize():
        raise SystemExit("the Python reference's state differs from the native engine's")
    return {"calls": calls, "engine": engine, "native": native_rates, "python": python_rates,
            "python_commands": python_count}


def measure_latency(count: int) -> dict[str, float]:
    from vm.matching import NativeEngine

    words = b"".join(make_stream(count, seed=7))
    engine = NativeEngine()
    book = engine.create_book(OPERATOR, 2, False)
    execute, clock = engine.execute, time.perf_counter_ns
    samples = []
    for offset in range(0, len(words), 32):
        word = words[offset:offset + 32]
        start = clock()
        execute(OPERATOR, book, word)
        samples.append(clock() - start)
        engine.clear_log()
    samples.sort()
    return {"p50_us": samples[len(samples) // 2] / 1000, "p99_us": samples[int(len(samples) * 0.99)] / 1000}


def measure_state_costs(engine: Any, calls: list[bytes], repeats: int) -> dict[str, Any]:
    from vm.matching import NativeEngine

    serialise, load = [], []
    for _ in range(repeats * 3):
        start = time.perf_counter()
        data = engine.serialize()
        hashlib.sha256(data).digest()
        serialise.append(time.perf_counter() - start)
        start = time.perf_counter()
        NativeEngine.from_bytes(data)
        load.append(time.perf_counter() - start)
    book = 1
    single, batch = [], []
    for call in calls[:200]:
        mark = engine.checkpoint()
        engine.execute(OPERATOR, book, call[:32])
        start = time.perf_counter()
        engine.rollback(mark)
        single.append(time.perf_counter() - start)
        mark = engine.checkpoint()
        engine.execute(OPERATOR, book, call)
        start = time.perf_counter()
        engine.rollback(mark)
        batch.append(time.perf_counter() - start)
    return {
        "resting_orders": engine.live_orders,
        "serialised_bytes": len(data),
        "commit_serialise_and_hash_us": statistics.median(serialise) * 1e6,
        "load_us": statistics.median(load) * 1e6,
        "rollback_one_command_call_us": statistics.median(single) * 1e6,
        f"rollback_{CALL_SIZE}_command_call_us": statistics.median(batch) * 1e6,
    }


# -- through the EVM --------------------------------------------------------------

def _selector(signature: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=signature)[:4]


def _address(sender: str, nonce: int) -> bytes:
    import rlp
    from eth_utils import keccak

    return keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]


class _Signer:
    def __init__(self, account: Any) -> None:
        self.account, self.nonce = account, 0

    def call(self, to: bytes | None, data: bytes, gas: int = 8_000_000) -> bytes:
        fields = {"type": 2, "chainId": CHAIN_ID, "nonce": self.nonce, "value": 0, "gas": gas,
                  "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "data": data}
        if to is not None:
            fields["to"] = to
        self.nonce += 1
        return bytes(self.account.sign_transaction(fields).raw_transaction)

    def invoke(self, to: bytes, signature: str, types: list[str], values: list[Any], gas: int = 8_000_000) -> bytes:
        from eth_abi import encode

        return self.call(to, _selector(signature) + encode(types, values), gas)


def _new_chain() -> tuple[Any, Any]:
    import dataclasses

    from eth.db.atomic import AtomicDB

    from node.dev import dev_genesis
    from node.dev_accounts import DevSigner
    from vm.chain import build_genesis

    signer = DevSigner.from_mnemonic()
    genesis = dataclasses.replace(dev_genesis(signer), gas_limit=400_000_000)
    return build_genesis(AtomicDB(), genesis), signer


def _build(chain: Any, raws: list[bytes]) -> tuple[Any, float]:
    from vm.block_builder import build_block

    builder = chain.get_vm().get_transaction_builder()
    txs = [builder.decode(raw) for raw in raws]
    head = chain.get_canonical_head()
    start = time.process_time()
    built = build_block(chain, head, txs, timestamp=head.timestamp + 1, coinbase=b"\x0c" * 20)
    seconds = time.process_time() - start
    failed = [i for i, r in enumerate(built.receipts) if r.state_root != b"\x01"]
    if failed or built.excluded or built.deferred:
        raise SystemExit(f"benchmark transactions failed: {failed[:5]} {built.excluded[:2]}")
    return built, seconds


def measure_evm_exchange(blocks: int) -> dict[str, Any]:
    from eth_abi import encode

    from contracts.compiler import load_artifact

    chain, signer = _new_chain()
    issuer = _Signer(signer.accounts[0])
    members = [_Signer(a) for a in signer.accounts[1:5]]
    registry, cash, share, exchange = (_address(issuer.account.address, n) for n in range(4))
    setup = [
        issuer.call(None, load_artifact("IdentityRegistry").bytecode + encode(["address"], [issuer.account.address])),
        issuer.call(None, load_artifact("CashToken").bytecode + encode(
            ["string", "string", "uint8", "address"], ["Cash", "CASH", 2, issuer.account.address])),
        issuer.call(None, load_artifact("SecurityToken").bytecode + encode(
            ["string", "string", "uint8", "address", "address"],
            ["Share", "SHR", 0, registry, issuer.account.address])),
        issuer.call(None, load_artifact("Exchange").bytecode + encode(
            ["address", "address", "uint8", "uint64"], [share, cash, 0, 1])),
    ]
    far = 4_000_000_000
    for wallet in [exchange] + [bytes.fromhex(m.account.address[2:]) for m in members]:
        setup.append(issuer.invoke(registry, "registerInvestor(address,uint16,uint64)",
                                   ["address", "uint16", "uint64"], [wallet, 752, far]))
        setup.append(issuer.invoke(cash, "setAllowed(address,bool)", ["address", "bool"], [wallet, True]))
    supply_cash, supply_shares = 10**15, 10**9
    for member in members:
        setup.append(issuer.invoke(cash, "mint(address,uint256)", ["address", "uint256"],
                                   [member.account.address, supply_cash]))
        setup.append(issuer.invoke(share, "issue(address,uint256)", ["address", "uint256"],
                                   [member.account.address, supply_shares]))
    approvals = []
    for member in members:
        for token in (cash, share):
            approvals.append(member.invoke(token, "approve(address,uint256)", ["address", "uint256"],
                                           [exchange, 2**256 - 1]))
    _build(chain, setup)
    _build(chain, approvals)

    rng = random.Random(5)
    seconds, orders, fills, gas = 0.0, 0, 0, 0
    for _ in range(blocks):
        raws = []
        for t in range(EVM_TXS_PER_BLOCK):
            member = members[t % len(members)]
            packed = []
            for _ in range(EVM_BATCH):
                side = rng.randrange(2)
                price = 1_000 + rng.randrange(-10, 11)
                packed.append((side << 128) | (price << 64) | rng.randrange(1, 50))
            raws.append(member.invoke(exchange, "placeOrders(uint256[])", ["uint256[]"], [packed], gas=20_000_000))
        built, took = _build(chain, raws)
        seconds += took
        orders += EVM_BATCH * EVM_TXS_PER_BLOCK
        trade_topic = _topic("Trade(uint64,uint64,address,address,uint64,uint64)")
        fills += sum(1 for r in built.receipts for log in r.logs if log.topics and log.topics[0] == trade_topic)
        gas += built.block.header.gas_used
    _check_conservation(chain, cash, share, [m.account.address for m in members] + ["0x" + exchange.hex()],
                        4 * supply_cash, 4 * supply_shares)
    return {"orders": orders, "fills_settled": fills, "cpu_s": seconds, "orders_per_s": orders / seconds,
            "gas_per_order": gas / orders}


def _topic(signature: str) -> int:
    from eth_utils import keccak

    return int.from_bytes(keccak(text=signature), "big")


def _check_conservation(chain: Any, cash: bytes, share: bytes, holders: list[str], cash_total: int,
                        share_total: int) -> None:
    """Every unit of cash and every share is still with a member or in the exchange's escrow."""
    from eth_abi import decode, encode

    vm = chain.get_vm()
    for token, total in ((cash, cash_total), (share, share_total)):
        held = 0
        for holder in holders:
            data = _selector("balanceOf(address)") + encode(["address"], [holder])
            output = _static_call(vm, token, data)
            held += decode(["uint256"], output)[0]
        if held != total:
            raise SystemExit(f"token 0x{token.hex()}: {held} held, {total} issued")


def _static_call(vm: Any, to: bytes, data: bytes) -> bytes:
    from eth.vm.message import Message
    from eth.vm.transaction_context import BaseTransactionContext

    state = vm.state
    message = Message(gas=5_000_000, to=to, sender=b"\x00" * 20, value=0, data=data, code=state.get_code(to))
    context = BaseTransactionContext(gas_price=0, origin=b"\x00" * 20)
    computation = state.computation_class.apply_message(state, message, context)
    if computation.is_error:
        raise SystemExit(f"balanceOf failed: {computation.error}")
    return bytes(computation.output)


def measure_evm_raw(blocks: int, calls: list[bytes]) -> dict[str, Any]:
    from eth_abi import encode

    from vm.matching.precompile import MATCHING_ADDRESS

    chain, signer = _new_chain()
    operator = _Signer(signer.accounts[0])
    _build(chain, [operator.invoke(MATCHING_ADDRESS, "createBook(uint8,bool)", ["uint8", "bool"], [2, False])])
    words = b"".join(calls)
    seconds, commands, gas, offset = 0.0, 0, 0, 0
    for _ in range(blocks):
        raws = []
        for _ in range(RAW_TXS_PER_BLOCK):
            chunk = words[offset:offset + 32 * RAW_BATCH]
            offset += 32 * RAW_BATCH
            values = [int.from_bytes(chunk[i:i + 32], "big") for i in range(0, len(chunk), 32)]
            raws.append(operator.call(MATCHING_ADDRESS, _selector("submit(uint32,uint256[])")
                                      + encode(["uint32", "uint256[]"], [1, values]), gas=30_000_000))
            commands += len(values)
        built, took = _build(chain, raws)
        seconds += took
        gas += built.block.header.gas_used
    return {"commands": commands, "cpu_s": seconds, "orders_per_s": commands / seconds,
            "gas_per_command": gas / commands, "us_per_gas": seconds * 1e6 / gas}


def measure(commands: int, python_commands: int, repeats: int, latency_commands: int,
            evm_blocks: int) -> dict[str, Any]:
    engines = measure_engines(commands, python_commands, repeats)
    native, python = summarize(engines["native"]), summarize(engines["python"])
    latency = measure_latency(latency_commands)
    state = measure_state_costs(engines["engine"], engines["calls"], repeats)
    exchange_runs = [measure_evm_exchange(evm_blocks) for _ in range(repeats)]
    raw_runs = [measure_evm_raw(evm_blocks, engines["calls"]) for _ in range(repeats)]
    return {
        "native_orders_per_s": native["median"],
        "python_orders_per_s": python["median"],
        "ratio": native["median"] / python["median"],
        "evm_orders_per_s": statistics.median(r["orders_per_s"] for r in exchange_runs),
        "latency_p50_us": latency["p50_us"],
        "latency_p99_us": latency["p99_us"],
        "evm_raw_orders_per_s": statistics.median(r["orders_per_s"] for r in raw_runs),
        "state_commitment": state,
        "spread": {
            "native_orders_per_s": native,
            "python_orders_per_s": python,
            "evm_orders_per_s": summarize([r["orders_per_s"] for r in exchange_runs]),
            "evm_raw_orders_per_s": summarize([r["orders_per_s"] for r in raw_runs]),
        },
        "evm_exchange": exchange_runs[0],
        "evm_raw": raw_runs[0],
        "setup": {"commands": commands, "python_commands": engines["python_commands"], "call_size": CALL_SIZE,
                  "repeats": repeats, "latency_commands": latency_commands, "evm_blocks": evm_blocks,
                  "evm_batch": EVM_BATCH, "evm_txs_per_block": EVM_TXS_PER_BLOCK, "raw_batch": RAW_BATCH,
                  "raw_txs_per_block": RAW_TXS_PER_BLOCK, "clock": "process_time (core-seconds)"},
    }


def main(commands: int = 500_000, python_commands: int = 50_000, repeats: int = 3, latency_commands: int = 100_000,
         evm_blocks: int = 2, out: Path | str | None = DEFAULT_OUT) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    result = measure(commands, python_commands, repeats, latency_commands, evm_blocks)
    table = Table(title=f"Matching, {commands:,} mixed commands, {repeats} repeats (median, core-seconds)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in ("native_orders_per_s", "python_orders_per_s", "ratio", "evm_orders_per_s", "evm_raw_orders_per_s",
                "latency_p50_us", "latency_p99_us"):
        table.add_row(key, f"{result[key]:,.2f}")
    for key, value in result["state_commitment"].items():
        table.add_row(key, f"{value:,.1f}")
    table.add_row("precompile µs per gas (raw submit)", f"{result['evm_raw']['us_per_gas']:.4f}")
    console.print(table)
    write_bench_result(result, out, console)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", type=int, default=500_000)
    parser.add_argument("--python-commands", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency-commands", type=int, default=100_000)
    parser.add_argument("--evm-blocks", type=int, default=2)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    main(args.commands, args.python_commands, args.repeats, args.latency_commands, args.evm_blocks, args.out)
