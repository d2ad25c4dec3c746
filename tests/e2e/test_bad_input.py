"""Bad input gets the right JSON-RPC error and a precise message; the node keeps serving."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
import rlp
from eth_account import Account

from node.dev_accounts import DevSigner
from tests.e2e.node_process import rpc

SIGNER = DevSigner.from_mnemonic()
SENDER = SIGNER.accounts[2]


def post(url: str, body: bytes | str) -> object:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def signed(nonce: int = 0, chain_id: int = 1337, **overrides) -> bytes:
    fields = {"chainId": chain_id, "nonce": nonce, "to": SIGNER.accounts[3].address, "value": 1,
              "gas": 21000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2, **overrides}
    return bytes(Account.sign_transaction(fields, SENDER.key).raw_transaction)


def error_of(url: str, method: str, params: list) -> dict:
    response = rpc(url, method, params)
    assert "error" in response, response
    return response["error"]


ENVELOPE_CASES = [
    ("malformed JSON", '{"jsonrpc": "2.0", "method": "eth_chainId", "id": 1', -32700),
    ("not an object", "42", -32600),
    ("missing method", '{"jsonrpc": "2.0", "id": 1}', -32600),
    ("wrong version", '{"jsonrpc": "1.0", "method": "eth_chainId", "id": 1}', -32600),
    ("empty batch", "[]", -32600),
    ("unknown method", '{"jsonrpc": "2.0", "method": "eth_doesNotExist", "id": 1}', -32601),
]


def test_envelope_errors(dev_node):
    for name, body, code in ENVELOPE_CASES:
        response = post(dev_node.url, body)
        assert response["error"]["code"] == code, (name, response)
    batch = post(dev_node.url, json.dumps([
        {"jsonrpc": "2.0", "method": "eth_chainId", "id": 1},
        {"jsonrpc": "2.0", "method": "nope", "id": 2},
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "id": 3},
    ]))
    by_id = {item["id"]: item for item in batch}
    assert by_id[1]["result"] == "0x539"
    assert by_id[2]["error"]["code"] == -32601
    assert by_id[3]["result"] == "0x0"
    too_big = post(dev_node.url, json.dumps([{"jsonrpc": "2.0", "method": "eth_chainId", "id": i} for i in range(101)]))
    assert too_big["error"]["code"] == -32005 and "limit of 100" in too_big["error"]["message"]


PARAM_CASES = [
    ("eth_getBalance", ["0x1234", "latest"], "invalid argument 0: address: hex string has length 4, want 40"),
    (
        "eth_getBalance",
        ["f39fd6e51aad88f6f4ce6ab8827279cfffb92266", "latest"],
        "invalid argument 0: address: hex string without 0x prefix",
    ),
    ("eth_getBalance", [42, "latest"], "invalid argument 0: address: expected a 0x-prefixed hex string, got int"),
    ("eth_getBalance", ["0xF39fd6e51aad88f6f4ce6ab8827279cfffb92266", "latest"], "bad EIP-55 checksum"),
    (
        "eth_getBalance",
        ["0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "newest"],
        "invalid argument 1: block: expected a number or one of",
    ),
    ("eth_getBlockByNumber", ["0x0", "yes"], "invalid argument 1: expected a boolean, got str"),
    ("eth_getBlockByNumber", ["0x00", False], "invalid argument 0: block number: hex number with leading zero digits"),
    ("eth_getBlockByHash", ["0xzz", False], "invalid argument 0: block hash: invalid hex string"),
    ("eth_getTransactionByHash", [], "missing value for required argument 0"),
    ("eth_chainId", [1], "too many arguments, want at most 0"),
    (
        "eth_call",
        [{"to": "0x" + "11" * 20, "gass": "0x1"}, "latest"],
        "invalid argument 0: transaction: unknown field 'gass'",
    ),
    (
        "eth_getLogs",
        [{"fromBlock": "0x0", "topics": ["0x12"]}],
        "invalid argument 0: topic: hex string has length 2, want 64",
    ),
    ("eth_sendRawTransaction", ["0xabc"], "invalid argument 0: transaction: hex string of odd length"),
]


def test_invalid_params_name_the_argument(dev_node):
    for method, params, message in PARAM_CASES:
        error = error_of(dev_node.url, method, params)
        assert error["code"] == -32602, (method, error)
        assert message in error["message"], (method, error["message"])


def test_rejected_transactions_say_why(dev_node):
    good = signed(0)
    truncated = good[: len(good) // 2]
    tampered = bytearray(good)
    tampered[-5] ^= 0xFF  # corrupt s: recovery fails or yields another sender
    legacy_unprotected = bytes(
        Account.sign_transaction(
            {"nonce": 0, "to": SIGNER.accounts[3].address, "value": 1, "gas": 21000, "gasPrice": 0}, SENDER.key
        ).raw_transaction
    )
    cases = [
        ("0x", "empty transaction data"),
        ("0x" + truncated.hex(), "transaction could not be decoded"),
        ("0x" + rlp.encode([b"\x01", b"\x02"]).hex(), "transaction could not be decoded"),
        ("0x02deadbeef", "transaction could not be decoded"),
        ("0x" + signed(0, chain_id=1).hex(), "invalid chain id for signer: have 1 want 1337"),
        ("0x" + legacy_unprotected.hex(), "only replay-protected (EIP-155) transactions allowed"),
        ("0x" + signed(5).hex(), "nonce too high: next nonce 0, tx nonce 5"),
        ("0x" + signed(0, gas=20000).hex(), "intrinsic gas too low: gas 20000, minimum needed 21000"),
        ("0x" + signed(0, gas=10**9).hex(), "exceeds block gas limit"),
        ("0x" + signed(0, value=10**30).hex(), "insufficient funds for gas * price + value"),
    ]
    for raw, message in cases:
        error = error_of(dev_node.url, "eth_sendRawTransaction", [raw])
        assert error["code"] == -32000, (message, error)
        assert message in error["message"], (message, error["message"])

    error = error_of(dev_node.url, "eth_sendRawTransaction", ["0x" + bytes(tampered).hex()])
    assert error["code"] == -32000
    assert any(word in error["message"] for word in ("invalid sender", "insufficient funds", "nonce too")), error

    # The node is still alive and accepts the good transaction, then refuses its replay.
    assert rpc(dev_node.url, "eth_sendRawTransaction", ["0x" + good.hex()])["result"].startswith("0x")
    replay = error_of(dev_node.url, "eth_sendRawTransaction", ["0x" + good.hex()])
    assert replay["message"] in ("already known",) or "nonce too low" in replay["message"]
    assert rpc(dev_node.url, "eth_chainId")["result"] == "0x539"
    assert dev_node.alive()


def test_reverted_call_returns_code_3_with_data(dev_node):
    from web3 import Web3

    from contracts.compiler import load_artifact

    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    artifact = load_artifact("SettleTestToken")
    tx_hash = (
        w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        .constructor("A", "A", 1)
        .transact({"from": w3.eth.accounts[0]})
    )
    token = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=20, poll_latency=0.05).contractAddress
    selector = "0x" + Web3.keccak(text="failWithReason()")[:4].hex()
    error = error_of(dev_node.url, "eth_call", [{"to": token, "data": selector}, "latest"])
    assert error["code"] == 3
    assert error["message"] == "execution reverted: SettleTestToken: deliberate failure"
    assert error["data"].startswith("0x08c379a0")
    missing = error_of(dev_node.url, "eth_getBalance", ["0x" + "11" * 20, "0x999"])
    assert (missing["code"], missing["message"]) == (-32000, "header not found")


def _settle(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda g: g.update(chainId=-1), "field 'chainId'"),
        (lambda g: g.update(gasLimit="0xZZ"), "field 'gasLimit'"),
        (lambda g: g["consensus"].update(blockPeriodMs=1), "field 'consensus.blockPeriodMs'"),
        (lambda g: g.update(chainID=5), "chainID"),
    ],
)
def test_bad_genesis_file_names_the_field(tmp_path, mutate, expected):
    init = _settle("testnet", "init", "--validators", "1", "--out", str(tmp_path / "net"))
    assert init.returncode == 0, init.stderr
    genesis_path = tmp_path / "net" / "genesis.json"
    genesis = json.loads(genesis_path.read_text())
    mutate(genesis)
    genesis_path.write_text(json.dumps(genesis))
    result = _settle("node", "run", "--config", str(tmp_path / "net" / "node0" / "config.toml"))
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_file_names_the_field(tmp_path):
    init = _settle("testnet", "init", "--validators", "1", "--out", str(tmp_path / "net"))
    assert init.returncode == 0, init.stderr
    config = tmp_path / "net" / "node0" / "config.toml"
    config.write_text(config.read_text().replace("port = 8545", 'port = "abc"'))
    result = _settle("node", "run", "--config", str(config))
    assert result.returncode == 1
    assert "[rpc] port" in result.stderr and "abc" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("server", ["rpc", "metrics"])
def test_a_port_in_use_is_a_one_line_error(tmp_path, server):
    """The dev node refuses to start, naming the address, when its JSON-RPC or metrics port is taken."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = ["--rpc-port", str(port)] if server == "rpc" else ["--rpc-port", "0", "--metrics-port", str(port)]
        result = _settle("node", "dev", "--datadir", str(tmp_path / "dev"), *ports)
    assert result.returncode == 1
    name = "JSON-RPC" if server == "rpc" else "metrics"
    assert f"cannot serve {name} on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
