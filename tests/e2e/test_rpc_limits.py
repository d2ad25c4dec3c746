"""A real dev node survives hostile JSON-RPC input and answers each limit with an error.

Issue 22, critical 1: a 120 KB request of ``[[[…`` 60,000 deep used to overflow
the C stack inside ``json.loads`` (py_ecc raises the recursion limit to 100,000)
and kill the process with SIGSEGV.
"""
from __future__ import annotations

import json
import urllib.request

from websockets.sync.client import connect

from tests.e2e.node_process import rpc

DEPTH = 60_000


def post(url: str, body: str) -> dict:
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


NESTED = "[" * DEPTH + "]" * DEPTH
BODIES = [NESTED, '{"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber", "params": ' + NESTED + "}"]


def test_deeply_nested_json_over_http_is_refused_and_the_node_lives(dev_node):
    for body in BODIES:
        error = post(dev_node.url, body)["error"]
        assert error["code"] == -32700 and "nested deeper than 64" in error["message"], error
        assert "result" in rpc(dev_node.url, "eth_blockNumber")
    assert dev_node.alive()


def test_deeply_nested_json_over_websocket_is_refused_and_the_node_lives(dev_node):
    with connect(dev_node.ws_url, open_timeout=10, max_size=None) as socket:
        for body in BODIES:
            socket.send(body)
            error = json.loads(socket.recv(timeout=30))["error"]
            assert error["code"] == -32700 and "nested deeper than 64" in error["message"], error
        socket.send(json.dumps({"jsonrpc": "2.0", "id": 8, "method": "eth_blockNumber", "params": []}))
        assert "result" in json.loads(socket.recv(timeout=30))
    assert dev_node.alive()
    assert "result" in rpc(dev_node.url, "eth_blockNumber")


def test_huge_json_integer_gets_a_json_rpc_error_not_http_500(dev_node):
    body = '{"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [' + "9" * 5000 + "]}"
    error = post(dev_node.url, body)["error"]
    assert error["code"] == -32700 and "digits" in error["message"], error
    assert "result" in rpc(dev_node.url, "eth_blockNumber")


def test_malformed_params_log_one_line_and_no_traceback(dev_node):
    slot = "0x" + "zz" * 32
    error = rpc(dev_node.url, "eth_getStorageAt", ["0x" + "11" * 20, slot, "latest"])["error"]
    assert error["code"] == -32602, error
    error = rpc(dev_node.url, "eth_getStorageAt", ["0x" + "11" * 20, 2**256, "latest"])["error"]
    assert error["code"] == -32602, error
    error = rpc(dev_node.url, "eth_sendRawTransaction", ["0x05c0"])["error"]
    assert error["code"] == -32000, error
    assert "result" in rpc(dev_node.url, "eth_blockNumber")
    assert "Traceback" not in dev_node.log()
