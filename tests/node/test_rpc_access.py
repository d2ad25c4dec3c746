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


def _ask_as(dispatcher, method: str, bearer: str) -> dict:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []})
    return json.loads(dispatcher.handle(body, Connection(client="test", bearer=bearer)))


def test_admin_methods_need_the_bearer_token(tmp_path):
    store, dispatcher = _dispatcher(tmp_path, keys=dev_validator_keys(), admin_token="s3cret-token")
    try:
        for method in ("admin_nodeInfo", "admin_peers"):
            for presented in ("", "wrong", "s3cret-toke", "s3cret-token2"):
                error = _ask_as(dispatcher, method, presented)["error"]
                assert error["code"] == -32001 and "unauthorized" in error["message"], (method, presented, error)
        info = _ask_as(dispatcher, "admin_nodeInfo", "s3cret-token")["result"]
        assert info["role"] == "validator" and info["chainId"] == "0x539" and info["head"]["number"] == "0x0"
        assert info["validator"].lower() == "0x" + dev_validator_keys().address.hex()
        assert _ask_as(dispatcher, "admin_peers", "s3cret-token")["result"] == []
    finally:
        store.close()


def test_no_admin_token_no_admin_namespace(tmp_path):
    store, dispatcher = _dispatcher(tmp_path, keys=dev_validator_keys())
    try:
        assert not [name for name in dispatcher.methods if name.startswith("admin_")]
        assert _ask_as(dispatcher, "admin_nodeInfo", "anything")["error"]["code"] == -32601
    finally:
        store.close()


def test_bearer_token_parsing():
    from node.rpc.server import bearer_token

    assert bearer_token("Bearer abc") == "abc" and bearer_token("bearer  abc ") == "abc"
    assert bearer_token(None) == "" and bearer_token("Basic abc") == "" and bearer_token("abc") == ""


async def test_admin_token_over_http(tmp_path):
    """The Authorization header reaches the admin namespace through the real ASGI app."""
    import httpx

    from node.service import build_rpc

    signer = DevSigner.from_mnemonic()
    settings = NodeSettings(data_dir=tmp_path / "chain", genesis=dev_genesis(signer), keys=dev_validator_keys(),
                            admin_token="s3cret-token")
    store = ChainStore(settings.data_dir, settings.genesis)
    try:
        backend = Backend(store, coinbase=b"\x00" * 20)
        app = build_rpc(backend, settings, ConsensusEngine(backend, consensus_config(settings)))
        body = {"jsonrpc": "2.0", "id": 1, "method": "admin_nodeInfo", "params": []}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node") as client:
            refused = (await client.post("/", json=body)).json()
            wrong = (await client.post("/", json=body, headers={"Authorization": "Bearer nope"})).json()
            allowed = (await client.post("/", json=body, headers={"Authorization": "Bearer s3cret-token"})).json()
        assert refused["error"]["code"] == wrong["error"]["code"] == -32001
        assert allowed["result"]["role"] == "validator"
    finally:
        store.close()
