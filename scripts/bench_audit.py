"""Audit-node catch-up: certificate-only and full re-execution over a chain of ``blocks`` blocks.

A dev-genesis chain of ``blocks`` blocks (one ERC-20-free transfer every ``tx_every`` blocks, the rest
empty), each sealed with a real BLS certificate by the dev validator, is written to LevelDB in a
temporary directory (untimed). Then :func:`node.audit.audit_store` runs over it twice: checking
certificates only (each against its height's set, read from the replayed registry), and with full
re-execution (every root, receipt and stored node compared), ``repeats`` times each. Figures are blocks
per wall-clock second (median, min and max over the repeats) and CPU milliseconds per block (process
time, which the machine's other load does not inflate).

    python scripts/bench_audit.py [--blocks 10000] [--repeats 3]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from node.bench_scripts import summarize, write_bench_result  # noqa: E402  (needs REPO on the path)

DEFAULT_OUT = REPO / "bench-results" / "audit.json"


def build_chain(directory: Path, blocks: int, tx_every: int) -> None:
    from consensus.certificate import aggregate, sign_seal
    from node.backend import Backend
    from node.dev import dev_genesis, dev_validator_keys
    from node.dev_accounts import DevSigner
    from node.service import validator_set
    from node.store import ChainStore
    from tests.helpers import transfer

    genesis = dev_genesis(DevSigner.from_mnemonic())
    keys = dev_validator_keys()
    validators = validator_set(genesis)
    store = ChainStore(directory, genesis)
    backend = Backend(store, coinbase=keys.address)
    nonce = 0
    try:
        for height in range(1, blocks + 1):
            if tx_every and height % tx_every == 0:
                backend.send_raw_transaction(transfer(0, nonce))
                nonce += 1
            pending = backend.build_block(allow_empty=True)
            assert pending is not None
            block = pending.block
            seal = sign_seal(keys.bls_secret_key, genesis.chain_id, height, 0, block.hash)
            backend.commit_block(pending, aggregate(validators, {0: seal}, height, 0, block.hash).encode())
    finally:
        store.close()


def audit(directory: Path, reexecute: bool) -> tuple[float, float, Any]:
    """One audit: (wall seconds, CPU seconds, report)."""
    from node.audit import audit_store
    from node.dev import dev_genesis
    from node.dev_accounts import DevSigner
    from node.store import ChainStore

    store = ChainStore(directory, dev_genesis(DevSigner.from_mnemonic()))
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        report = audit_store(store, reexecute=reexecute)
        return time.perf_counter() - started, time.process_time() - cpu_started, report
    finally:
        store.close()


def main(blocks: int = 10_000, tx_every: int = 10, out: Path | str | None = DEFAULT_OUT,
         repeats: int = 3, quiet: bool = False) -> dict[str, Any]:
    if quiet:  # building logs every committed block otherwise; not for in-process callers (tests)
        from node.logs import configure_logging

        configure_logging("warning")
    runs: dict[str, list[tuple[float, float]]] = {"cert": [], "reexec": []}
    with tempfile.TemporaryDirectory(prefix="settle-bench-audit-") as tmp:
        directory = Path(tmp) / "data"
        started = time.perf_counter()
        build_chain(directory, blocks, tx_every)
        print(f"built {blocks} certified blocks in {time.perf_counter() - started:.1f} s")
        for _ in range(repeats):
            seconds, cpu, report = audit(directory, reexecute=False)
            assert report.ok and report.certificates_checked == blocks, report.first_discrepancy
            runs["cert"].append((seconds, cpu))
            seconds, cpu, report = audit(directory, reexecute=True)
            assert report.ok and report.state_roots_checked == blocks, report.first_discrepancy
            runs["reexec"].append((seconds, cpu))
    result: dict[str, Any] = {"blocks": blocks, "transactions": blocks // tx_every if tx_every else 0,
                              "validators": 1, "repeats": repeats}
    for mode, label in (("cert", "certificate-only"), ("reexec", "full re-execution")):
        rate = summarize([blocks / seconds for seconds, _ in runs[mode]])
        cpu_ms = summarize([cpu * 1000 / blocks for _, cpu in runs[mode]])
        result[f"{mode}_blocks_per_s"] = rate["median"]
        result[f"{mode}_blocks_per_s_spread"] = rate
        result[f"{mode}_cpu_ms_per_block"] = cpu_ms["median"]
        result[f"{mode}_seconds"] = blocks / rate["median"]
        print(f"{label}: {rate['median']:.0f} blocks/s ({rate['min']:.0f}-{rate['max']:.0f}), "
              f"{cpu_ms['median']:.3f} ms CPU per block")
    write_bench_result(result, out)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--tx-every", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    arguments = parser.parse_args()
    main(blocks=arguments.blocks, tx_every=arguments.tx_every, out=arguments.out, repeats=arguments.repeats,
         quiet=True)
