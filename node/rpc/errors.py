"""JSON-RPC error codes, as geth and Ethereum clients expect them."""
from __future__ import annotations

from typing import Any

from jsonrpcserver.exceptions import JsonRpcError
from jsonrpcserver.sentinels import NODATA

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
"""geth's code for rejected transactions and failed execution."""
LIMIT_EXCEEDED = -32005
EXECUTION_REVERTED = 3
"""geth's code for a reverted call; ``data`` carries the revert payload."""
UNAUTHORIZED = -32001


def rpc_error(code: int, message: str, data: Any = NODATA) -> JsonRpcError:
    return JsonRpcError(code, message, data)


def invalid_params(message: str) -> JsonRpcError:
    return JsonRpcError(INVALID_PARAMS, message)


def invalid_argument(index: int, problem: str) -> JsonRpcError:
    """geth's wording: ``invalid argument 0: hex string without 0x prefix``."""
    return JsonRpcError(INVALID_PARAMS, f"invalid argument {index}: {problem}")
