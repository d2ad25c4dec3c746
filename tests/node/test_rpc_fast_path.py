"""The lean JSON-RPC path (issue 21): plain requests skip jsonrpcserver and Starlette, with the same answers."""
from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from jsonrpcserver.exceptions import JsonRpcError

from node.backend import Backend
from node.rpc import server
from node.rpc.api import Connection, EthAPI
from node.rpc.filters import FilterManager, SubscriptionManager
from node.rpc.limits import RpcLimits
from node.rpc.server import Dispatcher, create_app
from node.store import ChainStore
from tests.helpers import GENESIS, transfer


def fails() -> None:
    raise JsonRpcError(-32000, "refused", {"why": "a test"})


def boom() -> None:
    raise ZeroDivisionError("handler bug")


def echo(value: Any, other: Any = "d") -> list[Any]:
    return [value, other]


async def later(value: Any) -> Any:
    await trio.lowlevel.checkpoint()
    return {"later": value}


METHODS = {"t_echo": echo, "t_fails": fails, "t_boom": boom, "t_later": later}

REQUESTS: list[Any] = [
    {"jsonrpc": "2.0", "method": "t_echo", "params": [1], "id": 1},
    {"jsonrpc": "2.0", "method": "t_echo", "params": [1, 2], "id": "a"},
    {"jsonrpc": "2.0", "method": "t_echo", "params": [], "id": None},
    {"jsonrpc": "2.0", "method": "t_echo", "params": [1, 2, 3], "id": 2.5},
    {"jsonrpc": "2.0", "method": "t_echo", "id": 3},
    {"jsonrpc": "2.0", "method": "t_fails", "id": 4},
    {"jsonrpc": "2.0", "method": "t_boom", "params": [], "id": 5},
    {"jsonrpc": "2.0", "method": "t_later", "params": ["x"], "id": 6},
    # Not plain: jsonrpcserver answers these in both runs.
    {"jsonrpc": "2.0", "method": "t_echo", "params": {"value": 1}, "id": 7},
    {"jsonrpc": "2.0", "method": "t_missing", "params": [], "id": 8},
    {"jsonrpc": "2.0", "method": "t_echo", "params": [1]},
    {"jsonrpc": "1.0", "method": "t_echo", "params": [1], "id": 9},
    {"jsonrpc": "2.0", "method": "t_echo", "params": [1], "id": True},
    {"jsonrpc": "2.0", "method": "t_echo", "params": [1], "id": 10, "extra": 1},
    {"jsonrpc": "2.0", "method": 5, "id": 11},
    "not an object",
]


def _answer(dispatcher: Dispatcher, request: Any) -> str:
    return trio.run(dispatcher.handle_async, json.dumps(request), Connection())


@pytest.mark.parametrize("request_", REQUESTS + [REQUESTS], ids=[json.dumps(r)[:60] for r in REQUESTS] + ["batch"])
def test_answers_are_the_same_with_and_without_the_direct_path(request_, monkeypatch):
    dispatcher = Dispatcher(METHODS)
    direct = _answer(dispatcher, request_)
    monkeypatch.setattr(server, "_answer_directly", lambda item, calls: None)
    assert direct == _answer(dispatcher, request_)


def test_plain_requests_and_batches_do_not_go_through_jsonrpcserver(monkeypatch):
    def refuse(*args: Any, **named: Any) -> None:
        raise AssertionError("jsonrpcserver was called")

    dispatcher = Dispatcher(METHODS, limits=RpcLimits(batch_limit=3))
    monkeypatch.setattr(server, "dispatch_to_serializable", refuse)
    assert json.loads(_answer(dispatcher, REQUESTS[0])) == {"jsonrpc": "2.0", "result": [1, "d"], "id": 1}
    batch = json.loads(_answer(dispatcher, REQUESTS[:3]))
    assert [answer.get("result") for answer in batch] == [[1, "d"], [1, 2], None]
    assert batch[2]["error"] == {"code": -32602, "message": "missing value for required argument 0"}
    assert json.loads(_answer(dispatcher, REQUESTS[5]))["error"] == {
        "code": -32000, "message": "refused", "data": {"why": "a test"}}


# -- HTTP: the ASGI app answers POST / itself ---------------------------------------
async def _http(app: Any, method: str, body: bytes, headers: list[tuple[bytes, bytes]] | None = None,
                chunk: int = 1 << 20) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One HTTP request through the ASGI interface, as hypercorn drives it."""
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": "/", "raw_path": b"/", "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8545), "headers": headers or [(b"content-type", b"application/json")]}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], [(bytes(k), bytes(v)) for k, v in start["headers"]], content


def _apps(max_request_bytes: int = 1000) -> tuple[Any, Any]:
    """The app's direct POST path, and the same request through Starlette (forced by CORS and an Origin)."""
    dispatcher = Dispatcher(METHODS)
    direct = create_app(dispatcher, cors_origins=[], max_request_bytes=max_request_bytes, on_disconnect=lambda c: None)
    starlette = create_app(dispatcher, cors_origins=["http://elsewhere"], max_request_bytes=max_request_bytes,
                           on_disconnect=lambda c: None)
    return direct, starlette


@pytest.mark.parametrize("body", [
    json.dumps(REQUESTS[0]).encode(),
    json.dumps(REQUESTS[:8]).encode(),
    json.dumps({"jsonrpc": "2.0", "method": "t_echo", "params": [1]}).encode(),  # a notification: empty reply
    b"{bad json",
    json.dumps({"jsonrpc": "2.0", "method": "t_echo", "params": ["x" * 2000], "id": 1}).encode(),  # too large
])
def test_direct_http_path_answers_as_starlette_does(body):
    direct, starlette = _apps()
    origin = [(b"content-type", b"application/json"), (b"origin", b"http://somewhere")]
    got = trio.run(_http, direct, "POST", body, None, 100)
    status, headers, content = trio.run(_http, starlette, "POST", body, origin, 100)
    cors = {b"vary", b"access-control-allow-origin", b"access-control-allow-credentials"}
    assert got == (status, [(k, v) for k, v in headers if k not in cors], content)
    assert got[0] == (413 if len(body) > 1000 else 200)


def test_direct_http_path_is_taken_for_post(monkeypatch):
    direct, _ = _apps()

    async def no_starlette(*args: Any) -> None:
        raise AssertionError("Starlette was called")

    monkeypatch.setattr(server.Starlette, "__call__", no_starlette)
    status, headers, content = trio.run(_http, direct, "POST", json.dumps(REQUESTS[0]).encode())
    assert status == 200 and (b"content-type", b"application/json") in headers
    assert json.loads(content) == {"jsonrpc": "2.0", "result": [1, "d"], "id": 1}
    with pytest.raises(AssertionError, match="Starlette was called"):
        trio.run(_http, direct, "GET", b"")


# -- receipts of the block just committed -------------------------------------------
@pytest.fixture
def backend(tmp_path):
    store = ChainStore(tmp_path / "chain", GENESIS)
    yield Backend(store, coinbase=b"\x01" * 20)
    store.close()


def test_receipts_of_the_newest_block_are_answered_without_reading_it_back(backend, monkeypatch):
    api = EthAPI(backend, FilterManager(backend), SubscriptionManager(backend), None)
    hashes = ["0x" + backend.send_raw_transaction(transfer(0, nonce)).hex() for nonce in range(3)]
    backend.produce_block()
    read_back = backend.store.block

    def not_read(header: Any) -> Any:
        raise AssertionError("the block was read back from the store")

    monkeypatch.setattr(backend.store, "block", not_read)
    receipts = [api.getTransactionReceipt(tx_hash) for tx_hash in hashes]
    assert [r["transactionIndex"] for r in receipts] == ["0x0", "0x1", "0x2"]

    # The same answers from the block as stored.
    monkeypatch.setattr(backend.store, "block", read_back)
    fresh = Backend(backend.store, coinbase=b"\x01" * 20)
    fresh_api = EthAPI(fresh, FilterManager(fresh), SubscriptionManager(fresh), None)
    assert receipts == [fresh_api.getTransactionReceipt(tx_hash) for tx_hash in hashes]
