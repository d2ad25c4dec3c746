"""README's list of JSON-RPC methods is exactly what `settle node dev` serves (issue 23)."""
from __future__ import annotations

import re
from pathlib import Path

from node.backend import Backend
from node.dev import dev_genesis, dev_validator_keys
from node.dev_accounts import DevSigner
from node.engine import ConsensusEngine
from node.service import NodeSettings, build_dispatcher, consensus_config
from node.store import ChainStore


def readme_methods() -> set[str]:
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text.split("<!-- methods served: begin -->")[1].split("<!-- methods served: end -->")[0]
    return {f"{namespace}_{name}" for namespace, names in re.findall(r"- `(\w+)_`: `([^`]*)`", section)
            for name in names.split()}


def served_methods(tmp_path: Path, dev_methods: bool) -> set[str]:
    signer = DevSigner.from_mnemonic()
    settings = NodeSettings(data_dir=tmp_path / "chain", genesis=dev_genesis(signer), keys=dev_validator_keys(),
                            signer=signer, dev_methods=dev_methods)
    store = ChainStore(settings.data_dir, settings.genesis)
    try:
        backend = Backend(store, coinbase=b"\x00" * 20)
        engine = ConsensusEngine(backend, consensus_config(settings), empty_blocks=not dev_methods)
        return set(build_dispatcher(backend, settings, engine).dispatcher.methods)
    finally:
        store.close()


def test_a_node_outside_dev_mode_serves_no_dev_method(tmp_path: Path) -> None:
    """evm_snapshot, evm_revert, hardhat_setBalance...: only `settle node dev` may rewrite its chain."""
    served = served_methods(tmp_path, dev_methods=False)
    assert "eth_call" in served and "rpc_modules" in served
    assert not [name for name in served if name.startswith(("evm_", "hardhat_"))]


def test_readme_lists_exactly_the_methods_a_dev_node_serves(tmp_path: Path) -> None:
    served = served_methods(tmp_path, dev_methods=True)
    listed = readme_methods()
    assert served - listed == set(), "served but not in the README"
    assert listed - served == set(), "in the README but not served"
