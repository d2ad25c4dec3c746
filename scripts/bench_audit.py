"""Audit-node catch-up: certificate-only and full re-execution over a chain of ``blocks`` blocks.

A dev-genesis chain of ``blocks`` blocks (one ERC-20-free transfer every ``tx_every`` blocks, the rest
empty), each sealed with a real BLS certificate by the dev validator, is written to LevelDB in a
temporary directory (untimed). Then :func:`node.audit.audit_store` runs over it twice: checking
certificates only (each against its height's set, read from the replayed registry), and with full
re-execution (every root, receipt and stored node compared). Figures are blocks per wall-clock second.

    python scripts/bench_audit.py [--blocks 10000]
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

from node.bench_scripts import write_bench_result  # noqa: E402  (needs REPO on the path)

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


def audit(directory: Path, reexecute: bool) -> tuple[float, Any]:
    from node.audit import audit_store
    from node.dev import dev_genesis
    from node.dev_accounts import DevSigner
    from node.store import ChainStore

    store = ChainStore(directory, dev_genesis(DevSigner.from_mnemonic()))
    try:
        started = time.perf_counter()
        report = audit_store(store, reexecute=reexecute)
        return time.perf_counter() - started, report
    finally:
        store.close()


def main(blocks: int = 10_000, tx_every: int = 10, out: Path | str | None = DEFAULT_OUT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="settle-bench-audit-") as tmp:
        directory = Path(tmp) / "data"
        started = time.perf_counter()
        build_chain(directory, blocks, tx_every)
        print(f"built {blocks} certified blocks in {time.perf_counter() - started:.1f} s")
        cert_seconds, cert_report = audit(directory, reexecute=False)
        assert cert_report.ok and cert_report.certificates_checked == blocks, cert_report.first_discrepancy
        reexec_seconds, reexec_report = audit(directory, reexecute=True)
        assert reexec_report.ok and reexec_report.state_roots_checked == blocks, reexec_report.first_discrepancy
    result = {
        "blocks": blocks,
        "transactions": blocks // tx_every if tx_every else 0,
        "cert_blocks_per_s": blocks / cert_seconds,
        "reexec_blocks_per_s": blocks / reexec_seconds,
        "cert_seconds": cert_seconds,
        "reexec_seconds": reexec_seconds,
        "validators": 1,
    }
    print(f"certificate-only: {result['cert_blocks_per_s']:.0f} blocks/s; "
          f"full re-execution: {result['reexec_blocks_per_s']:.0f} blocks/s")
    write_bench_result(result, out)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--tx-every", type=int, default=10)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    arguments = parser.parse_args()
    main(blocks=arguments.blocks, tx_every=arguments.tx_every, out=arguments.out)
