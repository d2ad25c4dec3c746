"""The JSON-RPC server's DoS limits and malformed input, through the real dispatcher (issue 22).

Each test runs the node's own dispatcher (``node.service.build_dispatcher``)
over a real LevelDB chain and py-evm: every limit answers an error naming its
``[rpc]`` key at its bound, and no malformed parameter of any method reaches
-32603.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from eth_account import Account
from structlog.testing import capture_logs

from genesis.model import GenesisAccount
from node.backend import Backend
from node.config import RpcSection
from node.dev import dev_genesis, dev_validator_keys
from node.dev_accounts import DevSigner
from node.engine import ConsensusEngine
from node.recursion import NODE_RECURSION_LIMIT, bound_recursion
from node.rpc.api import Connection
from node.rpc.limits import RpcLimits, limits_from_config, nesting_depth
from node.rpc.server import Dispatcher
from node.service import NodeSettings, RpcParts, build_dispatcher, consensus_config
from node.store import ChainStore

SIGNER = DevSigner.from_mnemonic()
LOGGER = b"\x10" * 20
"""Emits three 32-byte LOG0 entries per call."""
LOGGER_CODE = bytes.fromhex("60206000a0" * 3 + "00")
RECURSER = b"\x20" * 20
"""Calls itself with calldata n-1 until n is 0; reverts if a nested call failed."""
RECURSER_CODE = bytes.fromhex("6000358015603057600190036000526000600060206000600030" "5af1" "15603257" "00").ljust(
    0x30, b"\x00") + bytes.fromhex("5b00" "5b60006000fd")


@dataclasses.dataclass
class Node:
    backend: Backend
    parts: RpcParts
    connection: Connection

    def handle(self, body: Any, connection: Connection | None = None) -> Any:
        text = body if isinstance(body, str) else json.dumps(body)
        # eth_call, eth_estimateGas and log queries are async handlers (worker threads): the server's path.
        answer = trio.run(self.parts.dispatcher.handle_async, text, connection or self.connection)
        return json.loads(answer) if answer else None

    def call(self, method: str, params: Any, connection: Connection | None = None) -> Any:
        return self.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, connection)

    def error(self, method: str, params: Any, connection: Connection | None = None) -> dict[str, Any]:
        response = self.call(method, params, connection)
        assert "error" in response, response
        return response["error"]


@contextmanager
def running_node(tmp_path: Path, limits: RpcLimits, gas_cap: int = 50_000_000) -> Iterator[Node]:
    genesis = dev_genesis(SIGNER)
    genesis = dataclasses.replace(genesis, alloc={**genesis.alloc, LOGGER: GenesisAccount(balance=0, code=LOGGER_CODE),
                                                  RECURSER: GenesisAccount(balance=0, code=RECURSER_CODE)})
    settings = NodeSettings(data_dir=tmp_path / "chain", genesis=genesis, keys=dev_validator_keys(), signer=SIGNER,
                            dev_methods=True, rpc_limits=limits, gas_cap=gas_cap)
    store = ChainStore(settings.data_dir, genesis)
    try:
        backend = Backend(store, coinbase=b"\x00" * 20, gas_cap=gas_cap)
        engine = ConsensusEngine(backend, consensus_config(settings), empty_blocks=False)
        yield Node(backend, build_dispatcher(backend, settings, engine), Connection(client="http 127.0.0.1"))
    finally:
        store.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with running_node(tmp_path, RpcLimits()) as started:
        yield started


def small_node(tmp_path: Path, **limits: int) -> AbstractContextManager[Node]:
    return running_node(tmp_path, RpcLimits(**limits))


def log_blocks(node: Node, blocks: int) -> None:
    """Commit ``blocks`` blocks, each with one call to LOGGER (three logs)."""
    sender = SIGNER.accounts[0]
    for nonce in range(blocks):
        raw = Account.sign_transaction({"chainId": 1337, "nonce": nonce, "to": LOGGER_HEX, "value": 0, "gas": 100_000,
                                        "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2}, sender.key)
        node.backend.send_raw_transaction(bytes(raw.raw_transaction))
        node.backend.produce_block()


def request(method: str, params: list[Any], request_id: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


# -- nesting and parsing -------------------------------------------------------------------------------------------

def test_nesting_depth_counts_brackets_outside_strings() -> None:
    for value, depth in (([], 1), ([[{}]], 3), ("[[[", 0), (['\\"[[', [[]]], 3), ({"a": [1, {"b": "]]]\\"}]}, 3),
                         (["\\\\", [[["x"]]]], 4)):
        assert nesting_depth(json.dumps(value)) == depth, value


def test_json_nested_past_the_limit_is_refused_before_parsing(node: Node) -> None:
    at_limit = request("eth_getBalance", [[[[[]]]]], 1)  # the object, then five arrays: 6 deep
    body = json.dumps(at_limit)
    assert nesting_depth(body) == 6
    tight = Dispatcher({"eth_getBalance": lambda *a: None}, limits=RpcLimits(max_json_depth=6))
    assert "result" in json.loads(tight.handle(body, Connection()))
    over = json.loads(tight.handle(json.dumps(request("eth_getBalance", [[[[[[]]]]]], 1)), Connection()))
    assert over["error"] == {"code": -32700, "message": "JSON nested deeper than 6 levels (limit [rpc] max_json_depth)"}
    deep = "[" * 60_000 + "]" * 60_000
    assert node.handle(deep)["error"]["code"] == -32700
    # Brackets inside strings are data, not nesting.
    error = node.error("eth_getBalance", ["[" * 1000, "latest"])
    assert error["code"] == -32602


def test_typed_data_given_as_a_nested_string_is_bounded(node: Node) -> None:
    error = node.error("eth_signTypedData_v4", [SIGNER.accounts[0].address, "[" * 60_000 + "]" * 60_000])
    assert error["code"] == -32602 and "nested deeper than 64" in error["message"]


def test_integer_past_pythons_digit_limit_is_a_parse_error_not_a_crash(node: Node) -> None:
    body = '{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [' + "9" * 5000 + "]}"
    error = node.handle(body)["error"]
    assert error["code"] == -32700 and "4300" in error["message"], error


def test_the_node_bounds_its_recursion_limit_and_still_reaches_evm_depth_1024(tmp_path: Path) -> None:
    previous = sys.getrecursionlimit()
    try:
        bound_recursion()
        assert sys.getrecursionlimit() == NODE_RECURSION_LIMIT
        # 63/64 of the gas goes down each level: depth 1024 needs about 10**10 gas.
        with running_node(tmp_path, RpcLimits(), gas_cap=10**14) as limited:
            def recurse(levels: int) -> dict[str, Any]:
                call = {"to": "0x" + RECURSER.hex(), "data": "0x" + levels.to_bytes(32, "big").hex(),
                        "gas": hex(10**14)}
                return limited.call("eth_call", [call, "latest"])

            assert recurse(1024) == {"jsonrpc": "2.0", "result": "0x", "id": 1}  # frames at depths 0..1024
            assert recurse(1025)["error"]["code"] == 3  # depth 1025 is the EVM's limit, not Python's
    finally:
        sys.setrecursionlimit(previous)


# -- batches -------------------------------------------------------------------------------------------------------

def test_batch_cost_budget_answers_the_rest_with_32005(tmp_path: Path) -> None:
    with small_node(tmp_path, batch_cost_budget=45) as node:
        call = {"to": "0x" + "11" * 20}
        batch = [request("eth_call", [call, "latest"], i) for i in range(6)] + [
            {"jsonrpc": "2.0", "method": "eth_call", "params": [call, "latest"]}]  # a notification
        answers = node.handle(batch)
        assert [a["id"] for a in answers] == list(range(6))
        assert all(a["result"] == "0x" for a in answers[:4])
        for refused in answers[4:]:
            assert refused["error"] == {"code": -32005, "message": "batch cost budget of 45 units spent "
                                                                   "(limit [rpc] batch_cost_budget)"}
        # Cheap methods cost 1: 45 of them fit.
        assert all("result" in a for a in node.handle([request("eth_chainId", [], i) for i in range(45)]))


def test_batch_reply_size_is_bounded(tmp_path: Path) -> None:
    with small_node(tmp_path, batch_response_max_bytes=2_000) as node:
        answers = node.handle([request("eth_getBlockByNumber", ["0x0", True], i) for i in range(10)])
        answered = [a for a in answers if "result" in a]
        assert 1 <= len(answered) < 10
        assert sum(len(json.dumps(a)) for a in answered[:-1]) <= 2_000
        assert answers[-1]["error"]["code"] == -32005
        assert "batch_response_max_bytes" in answers[-1]["error"]["message"]


def test_batch_length_limit_names_its_key(tmp_path: Path) -> None:
    with small_node(tmp_path, batch_limit=3) as node:
        error = node.handle([request("eth_chainId", [], i) for i in range(4)])["error"]
        assert error == {"code": -32005,
                         "message": "batch of 4 requests exceeds the limit of 3 (limit [rpc] batch_limit)"}


# -- eth_feeHistory ------------------------------------------------------------------------------------------------

def test_fee_history_limits(node: Node) -> None:
    assert "result" in node.call("eth_feeHistory", ["0x400", "latest", list(range(100))])
    error = node.error("eth_feeHistory", ["0x1", "latest", [0] * 101])
    assert error == {"code": -32005, "message": "101 reward percentiles are more than 100 "
                                                "(limit [rpc] fee_history_max_percentiles)"}
    error = node.error("eth_feeHistory", ["0x401", "latest", []])
    assert error == {"code": -32005,
                     "message": "block count 1025 is more than 1024 (limit [rpc] fee_history_max_blocks)"}
    assert node.error("eth_feeHistory", ["0x0", "latest"])["code"] == -32602


# -- eth_getLogs ---------------------------------------------------------------------------------------------------

def test_get_logs_result_count_and_size_limits(tmp_path: Path) -> None:
    with small_node(tmp_path, logs_max_results=5, logs_max_response_bytes=20_000, logs_max_block_range=3) as node:
        log_blocks(node, 3)
        assert len(node.call("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x1"}])["result"]) == 3
        error = node.error("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x2"}])
        assert error["code"] == -32005 and "more than 5 logs" in error["message"]
        assert "(limit [rpc] logs_max_results)" in error["message"]
        error = node.error("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])
        assert error == {"code": -32005,
                         "message": "query spans 4 blocks, more than 3 (limit [rpc] logs_max_block_range)"}
        # Filters answer eth_getFilterLogs with the same limits.
        filter_id = node.call("eth_newFilter", [{"fromBlock": "0x1", "toBlock": "0x3"}])["result"]
        assert "logs_max_results" in node.error("eth_getFilterLogs", [filter_id])["message"]
    with small_node(tmp_path / "bytes", logs_max_response_bytes=1_000) as node:
        log_blocks(node, 1)
        error = node.error("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x1"}])
        assert error["code"] == -32005 and "(limit [rpc] logs_max_response_bytes)" in error["message"]


# -- filters and subscriptions --------------------------------------------------------------------------------------

def test_one_client_cannot_take_every_filter(tmp_path: Path) -> None:
    with small_node(tmp_path, filters_per_client=3, max_filters=5) as node:
        greedy = Connection(client="http 10.0.0.1")
        answers = node.handle([request("eth_newBlockFilter", [], i) for i in range(10)], greedy)
        assert sum("result" in a for a in answers) == 3
        assert answers[3]["error"] == {"code": -32005, "message": "this client already holds 3 filters "
                                                                  "(limit [rpc] filters_per_client)"}
        other = Connection(client="http 10.0.0.2")
        assert "result" in node.call("eth_newBlockFilter", [], other)
        assert "result" in node.call("eth_newFilter", [{}], other)
        third = Connection(client="http 10.0.0.3")
        assert node.error("eth_newBlockFilter", [], third)["message"] == (
            "the node already holds 5 filters (limit [rpc] max_filters)")
        # Uninstalling frees the client's slot; a closed WebSocket frees all of its filters.
        assert node.call("eth_uninstallFilter", [answers[0]["result"]], greedy)["result"] is True
        assert "result" in node.call("eth_newBlockFilter", [], greedy)
        node.parts.drop_connection(other)
        assert "result" in node.call("eth_newBlockFilter", [], third)


def test_subscriptions_per_connection_and_in_all(tmp_path: Path) -> None:
    with small_node(tmp_path, subscriptions_per_connection=3, max_subscriptions=5) as node:
        sent: list[str] = []

        def socket(name: str) -> Connection:
            """A connection as the server makes one: its own queue function, which identifies it."""
            def push(text: str) -> bool:
                sent.append(text)
                return True

            return Connection(push, client=f"ws {name}")

        first, second, third = socket("1"), socket("2"), socket("3")
        ids = [node.call("eth_subscribe", ["newHeads"], first)["result"] for _ in range(3)]
        assert node.error("eth_subscribe", ["newHeads"], first) == {
            "code": -32005, "message": "this connection already holds 3 subscriptions "
                                       "(limit [rpc] subscriptions_per_connection)"}
        assert "result" in node.call("eth_subscribe", ["logs", {}], second)
        assert "result" in node.call("eth_subscribe", ["newPendingTransactions"], second)
        assert node.error("eth_subscribe", ["newHeads"], third)["message"] == (
            "the node already holds 5 subscriptions (limit [rpc] max_subscriptions)")
        assert node.call("eth_unsubscribe", [ids[0]], first)["result"] is True
        assert "result" in node.call("eth_subscribe", ["newHeads"], third)
        node.backend.produce_block(allow_empty=True)
        heads = [json.loads(text) for text in sent]
        assert len(heads) == 3 and {h["params"]["subscription"] for h in heads} >= set(ids[1:])
        assert all(h["params"]["result"]["number"] == "0x1" for h in heads)
        node.parts.drop_connection(first)
        assert "result" in node.call("eth_subscribe", ["newHeads"], third)


# -- malformed input -----------------------------------------------------------------------------------------------

MALFORMED = [
    ("eth_getStorageAt", ["0x" + "11" * 20, "0x" + "zz" * 32, "latest"], -32602, "storage slot: invalid hex string"),
    ("eth_getStorageAt", ["0x" + "11" * 20, 2**256, "latest"], -32602, "storage slot: number out of range"),
    ("eth_getStorageAt", ["0x" + "11" * 20, "0x0" + "1" * 64, "latest"], -32602, "longer than 32 bytes"),
    ("eth_getBlockByNumber", ["0x-1", False], -32602, "invalid hex string"),
    ("eth_getBlockByNumber", ["0x1_0", False], -32602, "invalid hex string"),
    ("eth_getBlockByNumber", [-1, False], -32602, "number out of range"),
    ("web3_sha3", ["0x0a  0b"], -32602, "invalid hex string"),
    ("eth_sendRawTransaction", ["0x05c0"], -32000, "transaction type not supported: 0x05"),
    ("eth_sendRawTransaction", ["0x7f"], -32000, "transaction type not supported: 0x7f"),
    ("eth_getBalance", {"address": "0x" + "11" * 20}, -32602, "parameters must be an array"),
]


@pytest.mark.parametrize("method, params, code, message", MALFORMED)
def test_malformed_params_get_a_precise_error(node: Node, method: str, params: Any, code: int, message: str) -> None:
    error = node.error(method, params)
    assert error["code"] == code and message in error["message"], error
    # A 32-byte slot with leading zeros is still a slot.
    slot = node.call("eth_getStorageAt", ["0x" + "11" * 20, "0x" + "0" * 64, "latest"])
    assert slot["result"] == "0x" + "00" * 32


WRONG_ARGUMENTS: list[Any] = [
    None, True, -1, 1.5, 2**256, 10**80, "", "0x", "0x-1", "latest", "0x" + "zz" * 32, "0x" + "ff" * 33, "[[[", [],
    [[]], [None], {}, {"a": 1}, {"from": 1, "to": [], "data": {}}, {"fromBlock": {}, "topics": [[1]]}, {"blockHash": 7},
]
ADDRESS = "0x" + "11" * 20
HASH = "0x" + "22" * 32
LOGGER_HEX = "0x" + "10" * 20
OVERRIDES = {ADDRESS: {"balance": "0x1", "nonce": "0x2", "code": "0x00", "stateDiff": {HASH: HASH}},
             "0x" + "10" * 20: {"state": {HASH: HASH}}}
BLOCK_LOGGER_HEX = "0x" + "10" * 20
BLOCK_OVERRIDES = {"number": "0x10", "time": "0x10", "gasLimit": "0x1000000", "feeRecipient": ADDRESS,
                   "prevRandao": HASH}
TYPED_DATA = {
    "types": {"EIP712Domain": [{"name": "name", "type": "string"}], "Mail": [{"name": "contents", "type": "string"}]},
    "primaryType": "Mail", "domain": {"name": "Settle"}, "message": {"contents": "hello"},
}


def valid_params(node: Node) -> dict[str, list[Any]]:
    """One well-formed call of every method: the baseline each wrong value is put into."""
    sender = SIGNER.accounts[0].address
    filter_id = node.call("eth_newBlockFilter", [])["result"]
    log_filter_id = node.call("eth_newFilter", [{}])["result"]
    raw = Account.sign_transaction({"chainId": 1337, "nonce": 0, "to": ADDRESS, "value": 0, "gas": 21_000,
                                    "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2},
                                   SIGNER.accounts[1].key).raw_transaction
    return {
        "anchor_getAnchorForBlock": ["0x0"],
        "anchor_getAnchors": ["0x0", "0x10"],
        "eth_call": [{"from": sender, "to": ADDRESS, "data": "0x", "value": "0x0", "gas": "0x5208"}, "latest"],
        "eth_estimateGas": [{"from": sender, "to": ADDRESS, "input": "0x"}, "latest"],
        "eth_feeHistory": ["0x1", "latest", [50]],
        "eth_getBalance": [ADDRESS, "latest"],
        "eth_getBlockByHash": [HASH, False],
        "eth_getBlockByNumber": ["0x0", True],
        "eth_getBlockReceipts": ["0x0"],
        "eth_getBlockTransactionCountByHash": [HASH],
        "eth_getBlockTransactionCountByNumber": ["0x0"],
        "eth_getCode": [ADDRESS, {"blockNumber": "0x0"}],
        "eth_getFilterChanges": [filter_id],
        "eth_getFilterLogs": [log_filter_id],
        "eth_getLogs": [{"fromBlock": "0x0", "toBlock": "latest", "address": [ADDRESS], "topics": [HASH, None]}],
        "eth_getStorageAt": [ADDRESS, "0x0", "latest"],
        "eth_getTransactionByBlockHashAndIndex": [HASH, "0x0"],
        "eth_getTransactionByBlockNumberAndIndex": ["0x0", "0x0"],
        "eth_getTransactionByHash": [HASH],
        "eth_getTransactionCount": [ADDRESS, "pending"],
        "eth_getTransactionReceipt": [HASH],
        "eth_getUncleCountByBlockHash": [HASH],
        "eth_getUncleCountByBlockNumber": ["0x0"],
        "eth_newFilter": [{"fromBlock": "0x0", "address": ADDRESS}],
        "eth_newPendingTransactionFilter": [False],
        "eth_sendRawTransaction": ["0x" + bytes(raw).hex()],
        "eth_sendTransaction": [{"from": sender, "to": ADDRESS, "value": "0x1"}],
        "eth_sign": [sender, "0x00"],
        "eth_signTypedData": [sender, TYPED_DATA],
        "eth_signTypedData_v4": [sender, json.dumps(TYPED_DATA)],
        "eth_subscribe": ["logs", {"address": ADDRESS}],
        "eth_uninstallFilter": [filter_id],
        "eth_unsubscribe": ["0x1"],
        "web3_sha3": ["0x00"],
        "bft_getCertificate": ["latest"],
        "bft_getValidatorsByBlockNumber": ["0x0"],
        "evm_increaseTime": ["0x1"],
        "evm_mine": ["0x1"],
        # issue 23
        "eth_createAccessList": [{"from": sender, "to": LOGGER_HEX, "accessList": [{"address": ADDRESS,
                                                                                "storageKeys": [HASH]}]},
                                 "latest", OVERRIDES],
        "eth_simulateV1": [{"blockStateCalls": [{"blockOverrides": BLOCK_OVERRIDES, "stateOverrides": OVERRIDES,
                                                 "calls": [{"from": sender, "to": LOGGER_HEX}]}],
                            "validation": False, "returnFullTransactions": True}, "latest"],
        "eth_signTransaction": [{"from": sender, "to": ADDRESS, "value": "0x1", "gas": "0x5208"}],
        "eth_getRawTransactionByHash": [HASH],
        "eth_getRawTransactionByBlockHashAndIndex": [HASH, "0x0"],
        "eth_getRawTransactionByBlockNumberAndIndex": ["0x0", "0x0"],
        "txpool_contentFrom": [ADDRESS],
        "evm_revert": ["0x1"],
        "evm_setAutomine": [True],
        "evm_setNextBlockTimestamp": [hex(2**40)],
        "hardhat_mine": ["0x2", "0x5"],
        "hardhat_setBalance": [ADDRESS, "0x1"],
        "hardhat_setCode": [ADDRESS, "0x00"],
        "hardhat_setNonce": [ADDRESS, "0x1"],
        "hardhat_setStorageAt": [ADDRESS, "0x0", HASH],
    } | {
        "eth_call": [{"from": sender, "to": ADDRESS, "data": "0x", "value": "0x0", "gas": "0x5208"}, "latest",
                     OVERRIDES, BLOCK_OVERRIDES],
        "eth_estimateGas": [{"from": sender, "to": ADDRESS, "input": "0x"}, "latest", OVERRIDES],
    }


def wrong_inside(value: Any) -> Iterator[Any]:
    """``value`` (an object or array) with one wrong value at any depth: in each field or element, or added."""
    slots = list(value) + ["extra"] if isinstance(value, dict) else list(range(len(value)))
    for slot in slots:
        inner = value[slot] if slot != "extra" else None
        replacements = list(WRONG_ARGUMENTS)
        if isinstance(inner, (dict, list)):
            replacements += list(wrong_inside(inner))
        for wrong in replacements:
            changed = dict(value) if isinstance(value, dict) else list(value)
            changed[slot] = wrong
            yield changed


def wrong_variants(params: list[Any]) -> Iterator[list[Any]]:
    """``params`` with one wrong value: as each argument, one past the end, and anywhere inside one."""
    yield from wrong_inside(params)
    for wrong in WRONG_ARGUMENTS:
        yield [*params, wrong]


def test_no_wrong_parameter_reaches_internal_error_in_any_method(node: Node) -> None:
    """Every registered method, with a wrong value in each argument and field: never -32603, never an error log."""
    socket = Connection(lambda text: True, client="ws fuzz")
    baseline = valid_params(node)
    failures = []
    with capture_logs() as logs:
        for method in sorted(node.parts.dispatcher.methods):
            params = baseline.get(method, [])
            assert "result" in node.call(method, params, socket), (method, "baseline must be valid")
            for changed in wrong_variants(params):
                response = node.call(method, changed, socket)
                if response.get("error", {}).get("code") == -32603:
                    failures.append((method, changed, response["error"]))
    distinct = sorted({f"{method} {error.get('data')}" for method, _, error in failures})
    assert not failures, f"{len(failures)} internal errors:\n" + "\n".join(distinct)
    assert not [entry for entry in logs if entry["log_level"] == "error"]


def test_an_unexpected_handler_error_is_one_log_line_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise KeyError("missing")

    dispatcher = Dispatcher({"t_broken": broken})
    with capture_logs() as logs, caplog.at_level(logging.DEBUG):
        answer = json.loads(dispatcher.handle(json.dumps(request("t_broken", [], 1)), Connection()))
    assert answer["error"] == {"code": -32603, "message": "Internal error", "data": "KeyError: 'missing'"}
    assert [(e["event"], e["method"], e["error"]) for e in logs] == [
        ("rpc handler failed", "t_broken", "KeyError: 'missing'")]
    assert "test_rpc_limits.py" in logs[0]["at"] and "exc_info" not in logs[0]
    assert not [r for r in caplog.records if r.exc_info]


# -- configuration -------------------------------------------------------------------------------------------------

def test_every_limit_is_an_rpc_config_key_with_the_same_default() -> None:
    section = RpcSection()
    for limit in dataclasses.fields(RpcLimits):
        assert getattr(section, limit.name) == limit.default, limit.name
    assert limits_from_config(section) == RpcLimits()
    documented = (Path(__file__).parents[2] / "docs" / "limits.md").read_text()
    for limit in dataclasses.fields(RpcLimits):
        assert f"`{limit.name}`" in documented, limit.name


def test_dev_snapshots_are_bounded(tmp_path: Path) -> None:
    with small_node(tmp_path, dev_max_snapshots=2) as node:
        first = node.call("evm_snapshot", [])["result"]
        node.call("evm_snapshot", [])
        refused = node.call("evm_snapshot", [])["error"]
        assert refused["code"] == -32005 and "dev_max_snapshots" in refused["message"]
        assert node.call("evm_revert", [first])["result"] is True  # frees it and the later one
        assert "result" in node.call("evm_snapshot", [])


def test_state_overrides_are_bounded(tmp_path: Path) -> None:
    with small_node(tmp_path, override_max_accounts=2) as node:
        overrides = {"0x" + f"{i:040x}": {"balance": "0x1"} for i in range(1, 4)}
        refused = node.call("eth_call", [{"to": ADDRESS}, "latest", overrides])["error"]
        assert refused["code"] == -32005 and "override_max_accounts" in refused["message"]
        del overrides["0x" + f"{3:040x}"]
        assert node.call("eth_call", [{"to": ADDRESS}, "latest", overrides])["result"] == "0x"


def test_a_batch_of_sends_from_one_account_gets_consecutive_nonces(node: Node) -> None:
    """eth_sendTransaction without a nonce, several in one batch: each takes the next nonce (as Hardhat and geth).

    The batch's requests run concurrently, and each awaits its gas estimate; the nonce must be taken after it,
    when nothing can run between taking it and adding the transaction to the pool.
    """
    sender = SIGNER.accounts[0].address
    batch = [request("eth_sendTransaction", [{"from": sender, "to": ADDRESS, "value": hex(i + 1)}], i)
             for i in range(5)]
    answers = node.handle(batch)
    assert all("result" in answer for answer in answers), answers
    nonces = sorted(int(node.call("eth_getTransactionByHash", [answer["result"]])["result"]["nonce"], 16)
                    for answer in answers)
    assert nonces == [0, 1, 2, 3, 4]
