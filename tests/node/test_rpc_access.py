"""Per-namespace allow lists ([rpc] apis) and the audit node's refusal of writes, on the node's own dispatcher."""
from __future__ import annotations

import json
from pathlib import Path

from node.backend import Backend
from node.dev import dev_genesis, dev_validator_keys
from node.dev_accounts import DevSigner
from node.engine import ConsensusEngine
from node.rpc.server import Connection
from node.service import NodeSettings, build_dispatcher, consensus_config, observer_config
from node.store import ChainStore


def _dispatcher(tmp_path: Path, **overrides):
    signer = DevSigner.from_mnemonic()
    settings = NodeSettings(data_dir=tmp_path / "chain", genesis=dev_genesis(signer), **overrides)
    store = ChainStore(settings.data_dir, settings.genesis)
    backend = Backend(store, coinbase=b"\x00" * 20)
    config = consensus_config(settings) if settings.keys is not None else observer_config(settings)
    engine = ConsensusEngine(backend, config)
    return store, build_dispatcher(backend, settings, engine).dispatcher


def _ask(dispatcher, method: str, params: list) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    return json.loads(dispatcher.handle(body, Connection(client="test")))


def test_apis_limit_the_namespaces_served(tmp_path):
    store, dispatcher = _dispatcher(tmp_path, keys=dev_validator_keys(), rpc_apis=("eth", "net", "web3"))
    try:
        served = set(dispatcher.methods)
        assert "eth_blockNumber" in served and "net_version" in served and "web3_clientVersion" in served
        assert not [name for name in served if name.split("_")[0] not in ("eth", "net", "web3")]
        assert _ask(dispatcher, "bft_status", [])["error"]["code"] == -32601
    finally:
        store.close()


def test_an_audit_node_refuses_every_write_with_a_clear_error(tmp_path):
    store, dispatcher = _dispatcher(tmp_path, role="auditor")
    try:
        for method, params in (("eth_sendRawTransaction", ["0x02"]), ("eth_sendTransaction", [{}]),
                               ("eth_sign", ["0x" + "00" * 20, "0x"]), ("eth_signTransaction", [{}])):
            error = _ask(dispatcher, method, params)["error"]
            assert error == {"code": -32000, "message": f"read-only audit node: {method} is refused "
                                                        "(audit nodes never write)"}, error
        assert _ask(dispatcher, "eth_blockNumber", [])["result"] == "0x0"
        assert "audit_report" in dispatcher.methods
    finally:
        store.close()
