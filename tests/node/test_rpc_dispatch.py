"""The dispatcher in-process: envelope handling, arity, and crash containment."""
import json

from node.rpc.api import Connection
from node.rpc.limits import RpcLimits
from node.rpc.server import Dispatcher


def boom() -> None:
    raise ZeroDivisionError("handler bug")


def echo(value, other="d"):
    return [value, other]


DISPATCHER = Dispatcher({"t_boom": boom, "t_echo": echo}, limits=RpcLimits(batch_limit=3))


def call(body):
    return json.loads(DISPATCHER.handle(json.dumps(body), Connection()))


def test_unexpected_exception_becomes_internal_error_and_serving_continues():
    error = call({"jsonrpc": "2.0", "method": "t_boom", "id": 1})["error"]
    assert error["code"] == -32603 and "handler bug" in json.dumps(error)
    assert call({"jsonrpc": "2.0", "method": "t_echo", "params": [1], "id": 2})["result"] == [1, "d"]


def test_arity_messages_follow_geth():
    assert call({"jsonrpc": "2.0", "method": "t_echo", "params": [], "id": 1})["error"] == {
        "code": -32602, "message": "missing value for required argument 0"}
    assert call({"jsonrpc": "2.0", "method": "t_echo", "params": [1, 2, 3], "id": 1})["error"]["message"] == (
        "too many arguments, want at most 2")


def test_notifications_get_no_response_and_batches_are_limited():
    assert DISPATCHER.handle(json.dumps({"jsonrpc": "2.0", "method": "t_echo", "params": [1]}), Connection()) == ""
    over = call([{"jsonrpc": "2.0", "method": "t_echo", "params": [i], "id": i} for i in range(4)])
    assert over["error"]["code"] == -32005
    assert DISPATCHER.handle(b"\xff\xfe{", Connection()) and call_raw("{bad")["error"]["code"] == -32700


def call_raw(text):
    return json.loads(DISPATCHER.handle(text, Connection()))
