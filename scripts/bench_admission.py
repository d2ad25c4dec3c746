"""Transaction admission: decoding and signature checks, Settle's path vs stock py-evm's, in one process.

Every transaction a node accepts over JSON-RPC or gossip is decoded and its
signature checked before it reaches the mempool. ``count`` pre-signed ERC-20
``transfer`` transactions (type 2, zero fees, from 20 keys) go through:

* **py-evm**: ``decode``, ``check_signature_validity()`` (recover the key, then
  verify the signature against it) and ``sender``, as stock py-evm offers them;
* **settle**: ``decode``, ``vm.senders.prefill_sender`` and
  ``vm.senders.checked_sender``, what ``Backend.decode_transaction`` and the
  mempool do: one ECDSA recovery in all;
* **settle admission**: the same plus ``Mempool.add`` with every admission rule,
  into a fresh mempool (no baseline: py-evm has no mempool).

Then the same transactions as one block, as a validator imports a proposal
(``import_per_core_s``): **block decode** is ``rlp.decode`` with the block's
sedes and a sender recovery per transaction (what a validator that did not
keep its mempool's work does); **block decode, mempool** is
``vm.block_import.decode_block_reusing`` against a mempool that admitted them
(untimed), as ``Backend.decode_block`` does: each transaction is taken from the
mempool by the hash of its bytes, sender included (issue 21).

Signing is untimed. A figure is transactions per core-second
(``time.process_time()``), median and min-max over ``repeats``; ``ratio`` is
settle over py-evm. Results are checked, not timings: both paths give every
transaction the same sender.

    python scripts/bench_admission.py [--count 2000] [--repeats 5]
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from node.bench_scripts import summarize, write_bench_result  # noqa: E402  (needs REPO on the path)

DEFAULT_OUT = REPO / "bench-results" / "admission.json"
SENDERS = 20
TOKEN = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")


def sign_transfers(count: int) -> list[bytes]:
    from eth_abi import encode
    from eth_account import Account
    from eth_hash.auto import keccak

    from node.dev import DEV_CHAIN_ID

    keys = [keccak(b"settle bench admission %d" % i) for i in range(SENDERS)]
    selector = keccak(b"transfer(address,uint256)")[:4]
    raws = []
    for index in range(count):
        recipient = keccak(b"recipient %d" % index)[12:]
        fields = {"type": 2, "chainId": DEV_CHAIN_ID, "nonce": index // SENDERS, "to": TOKEN, "value": 0,
                  "gas": 60_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
                  "data": selector + encode(["address", "uint256"], [recipient, 1 + index])}
        raws.append(bytes(Account.sign_transaction(fields, keys[index % SENDERS]).raw_transaction))
    return raws


def engines() -> dict[str, Callable[[list[bytes]], list[bytes]]]:
    """Each engine admits a list of encoded transactions and returns their senders."""
    from eth.db.atomic import AtomicDB

    from node.dev import dev_genesis
    from node.dev_accounts import DevSigner
    from node.mempool import AccountView, Mempool
    from vm.chain import build_genesis
    from vm.senders import checked_sender, prefill_sender

    genesis = dev_genesis(DevSigner.from_mnemonic())
    builder = build_genesis(AtomicDB(), genesis).get_vm().get_transaction_builder()
    rich = AccountView(nonce=0, balance=10**30)

    def py_evm(raws: list[bytes]) -> list[bytes]:
        senders = []
        for raw in raws:
            transaction = builder.decode(raw)
            transaction.check_signature_validity()
            senders.append(transaction.sender)
        return senders

    def settle(raws: list[bytes]) -> list[bytes]:
        senders = []
        for raw in raws:
            transaction = builder.decode(raw)
            prefill_sender(transaction)
            senders.append(checked_sender(transaction))
        return senders

    def settle_admission(raws: list[bytes]) -> list[bytes]:
        mempool = Mempool(chain_id=genesis.chain_id, block_gas_limit=genesis.gas_limit)
        senders = []
        for raw in raws:
            transaction = builder.decode(raw)
            prefill_sender(transaction)
            mempool.add(transaction, len(raw), lambda _address: rich)
            senders.append(transaction.sender)
        return senders

    return {"py-evm": py_evm, "settle": settle, "settle admission": settle_admission}


def import_engines(raws: list[bytes]) -> dict[str, Callable[[], list[bytes]]]:
    """Each engine decodes one block of ``raws`` as a validator's import does and returns the senders."""
    import rlp
    from eth.db.atomic import AtomicDB

    from node.dev import dev_genesis
    from node.dev_accounts import DevSigner
    from node.mempool import AccountView, Mempool
    from vm.block_import import decode_block_reusing
    from vm.chain import build_genesis
    from vm.senders import prefill_sender

    genesis = dev_genesis(DevSigner.from_mnemonic())
    vm = build_genesis(AtomicDB(), genesis).get_vm()
    builder, block_class = vm.get_transaction_builder(), vm.get_block_class()
    transactions = [builder.decode(raw) for raw in raws]
    block_bytes = rlp.encode(block_class(header=vm.get_header(), transactions=transactions))
    mempool = Mempool(chain_id=genesis.chain_id, block_gas_limit=genesis.gas_limit)
    rich = AccountView(nonce=0, balance=10**30)
    for raw in raws:
        transaction = builder.decode(raw)
        prefill_sender(transaction)
        mempool.add(transaction, len(raw), lambda _address: rich)

    def block_decode() -> list[bytes]:
        block = rlp.decode(block_bytes, sedes=block_class)
        for transaction in block.transactions:
            prefill_sender(transaction)
        return [transaction.sender for transaction in block.transactions]

    def block_decode_mempool() -> list[bytes]:
        block = decode_block_reusing(block_bytes, block_class, mempool.get)
        return [transaction.sender for transaction in block.transactions]

    return {"block decode": block_decode, "block decode, mempool": block_decode_mempool}


def measure_import(raws: list[bytes], repeats: int, expected: list[bytes]) -> dict[str, Any]:
    runs = import_engines(raws)
    per_core: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.process_time()
            senders = run()
            per_core[name].append(len(raws) / (time.process_time() - start))
            if senders != expected:
                raise AssertionError(f"{name} recovered other senders than py-evm")
    return {name: summarize(values) for name, values in per_core.items()}


def measure(count: int, repeats: int) -> dict[str, Any]:
    raws = sign_transfers(count)
    runs = engines()
    per_core: dict[str, list[float]] = {name: [] for name in runs}
    expected: list[bytes] | None = None
    for _ in range(repeats):
        for name, run in runs.items():  # interleaved, so drifting machine load hits every engine alike
            start = time.process_time()
            senders = run(raws)
            per_core[name].append(count / (time.process_time() - start))
            expected = expected or senders
            if senders != expected:
                raise AssertionError(f"{name} recovered other senders than py-evm")
    figures = {name: summarize(values) for name, values in per_core.items()}
    assert expected is not None
    imports = measure_import(raws, repeats, expected)
    return {
        "count": count,
        "repeats": repeats,
        "per_core_s": figures,
        "py_evm_per_s": figures["py-evm"]["median"],
        "settle_per_s": figures["settle"]["median"],
        "settle_admission_per_s": figures["settle admission"]["median"],
        "ratio": figures["settle"]["median"] / figures["py-evm"]["median"],
        "import_per_core_s": imports,
        "import_ratio": imports["block decode, mempool"]["median"] / imports["block decode"]["median"],
    }


def main(count: int = 2000, repeats: int = 5, out: Path | str | None = DEFAULT_OUT) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    console.print(f"[dim]signing {count} ERC-20 transfers ...[/dim]")
    result = measure(count, repeats)
    table = Table(title=f"Transaction admission, {count} ERC-20 transfers, {repeats} repeats")
    table.add_column("path")
    table.add_column("tx/core-s (median)", justify="right")
    table.add_column("min - max", justify="right")
    table.add_column("vs py-evm", justify="right")
    for name, figure in result["per_core_s"].items():
        ratio = figure["median"] / result["py_evm_per_s"]
        table.add_row(name, f"{figure['median']:,.0f}", f"{figure['min']:,.0f} - {figure['max']:,.0f}",
                      f"{ratio:.2f}x")
    console.print(table)
    imports = Table(title=f"Proposal import: one block of the {count} transfers decoded, senders included")
    imports.add_column("path")
    imports.add_column("tx/core-s (median)", justify="right")
    imports.add_column("min - max", justify="right")
    for name, figure in result["import_per_core_s"].items():
        imports.add_row(name, f"{figure['median']:,.0f}", f"{figure['min']:,.0f} - {figure['max']:,.0f}")
    console.print(imports)
    write_bench_result(result, out, console)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args()
    main(args.count, args.repeats, args.out)
