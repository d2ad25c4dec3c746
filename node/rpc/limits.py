"""The JSON-RPC server's denial-of-service limits, and the checks that need no handler.

Each limit is a field of :class:`RpcLimits`, set from the ``[rpc]`` section of
the node's config (``node/config.py`` declares the same keys with the same
defaults; ``docs/limits.md`` lists them with the error each one answers).
A request over a limit gets an error naming the limit and its config key,
never a partial or silently truncated answer.

The nesting scan here runs on the raw request text *before* ``json.loads``:
the C JSON decoder recurses once per ``[``/``{``, and with the recursion limit
that py_ecc and py-evm set, 60,000 levels overflow the C stack (SIGSEGV)
before ``RecursionError`` can be raised.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from node.rpc.errors import LIMIT_EXCEEDED, rpc_error


@dataclass(frozen=True, slots=True)
class RpcLimits:
    """Every bound the JSON-RPC server enforces; each is the ``[rpc]`` config key of the same name."""

    max_json_depth: int = 64
    """Deepest nesting of arrays and objects in a request (and in typed data given as a string). Default 64."""

    batch_limit: int = 100
    """Most requests in one batch. Default 100."""

    batch_cost_budget: int = 1_000
    """Total cost units one batch may spend (see :data:`METHOD_COSTS`); later requests get -32005. Default 1000."""

    batch_response_max_bytes: int = 25_000_000
    """Largest reply to one batch (geth's --rpc.batch-response-max-size); later requests get -32005.
    Default 25000000."""

    fee_history_max_blocks: int = 1_024
    """Most blocks in one eth_feeHistory (geth: 1024). Default 1024."""

    fee_history_max_percentiles: int = 100
    """Most reward percentiles in one eth_feeHistory (geth's maxQueryLimit: 100). Default 100."""

    logs_max_block_range: int = 10_000
    """Most blocks one eth_getLogs / eth_getFilterLogs may span. Default 10000."""

    logs_max_results: int = 10_000
    """Most logs in one eth_getLogs / eth_getFilterLogs reply. Default 10000."""

    logs_max_response_bytes: int = 10_485_760
    """Largest eth_getLogs / eth_getFilterLogs reply, in bytes of JSON. Default 10485760 (10 MiB)."""

    max_filters: int = 1_000
    """Most polling filters installed on the node, for all clients together. Default 1000."""

    filters_per_client: int = 100
    """Most polling filters one client holds: one WebSocket connection, or one IP address over HTTP. Default 100."""

    filter_timeout_seconds: int = 300
    """A polling filter not polled for this long is removed (geth: 5 minutes). Default 300."""

    filter_max_changes: int = 10_000
    """Most changes a polling filter buffers between polls; newer ones are dropped. Default 10000."""

    max_subscriptions: int = 10_000
    """Most eth_subscribe subscriptions on the node, for all connections together. Default 10000."""

    subscriptions_per_connection: int = 128
    """Most eth_subscribe subscriptions one WebSocket connection holds. Default 128."""

    ws_send_queue: int = 4_096
    """Messages queued for one WebSocket; a subscriber whose queue is full is dropped. Default 4096."""

    # -- simulated execution (issue 23): overrides and eth_simulateV1 --------------
    override_max_accounts: int = 1_000
    """Most accounts one state override set (eth_call, eth_estimateGas, eth_createAccessList, one block of
    eth_simulateV1) may name. Default 1000."""

    simulate_max_blocks: int = 256
    """Most blocks in one eth_simulateV1 (geth's maxSimulateBlocks: 256). Default 256."""

    simulate_max_calls: int = 1_000
    """Most calls in one eth_simulateV1, over all its blocks. Default 1000."""

    dev_mine_max_blocks: int = 256
    """Most blocks one hardhat_mine makes (each is a synced commit on the node's one thread). Default 256."""

    dev_max_snapshots: int = 1_000
    """Most evm_snapshot snapshots a dev node keeps at once (each holds the pool's transactions). Default 1000."""


def limits_from_config(rpc_section: Any) -> RpcLimits:
    """The limits an ``[rpc]`` config section (``node.config.RpcSection``) sets: every key of the same name."""
    return RpcLimits(**{f.name: getattr(rpc_section, f.name) for f in dataclasses.fields(RpcLimits)})


METHOD_COSTS: dict[str, int] = {
    # State reads: a trie walk each.
    "eth_getBalance": 2,
    "eth_getCode": 2,
    "eth_getStorageAt": 2,
    "eth_getTransactionCount": 2,
    # Block, transaction and receipt reads: a block decode each.
    "eth_getBlockByNumber": 2,
    "eth_getBlockByHash": 2,
    "eth_getBlockReceipts": 4,
    "eth_getTransactionByHash": 2,
    "eth_getTransactionByBlockHashAndIndex": 2,
    "eth_getTransactionByBlockNumberAndIndex": 2,
    "eth_getTransactionReceipt": 2,
    "eth_feeHistory": 5,
    # Admission: decoding and sender recovery.
    "eth_sendRawTransaction": 5,
    "eth_sendTransaction": 10,
    "eth_sign": 2,
    "eth_signTypedData": 2,
    "eth_signTypedData_v4": 2,
    # Execution: one run of the EVM (up to the gas cap), or a binary search of runs.
    "eth_call": 10,
    "eth_estimateGas": 40,
    # Log queries: up to logs_max_block_range blocks each.
    "eth_getLogs": 20,
    "eth_getFilterLogs": 20,
    "evm_mine": 20,
    "eth_createAccessList": 40,
    "eth_simulateV1": 100,
    "eth_signTransaction": 10,
    "eth_getRawTransactionByHash": 2,
    "eth_getRawTransactionByBlockHashAndIndex": 2,
    "eth_getRawTransactionByBlockNumberAndIndex": 2,
    "txpool_content": 5,
    "txpool_inspect": 5,
    "evm_snapshot": 5,
    "hardhat_mine": 100,
    "evm_revert": 20,
}
"""Cost units per method, counted against ``batch_cost_budget``; any other method costs 1.

Relative, not measured to the microsecond: a cheap read is 1, one EVM run is
10, an estimate (a binary search of runs) is 40. The default budget of 1000
lets a batch hold 100 calls of any kind up to ``eth_call`` (ethers.js batches
up to 100), 50 log queries or 25 estimates.
"""


def method_cost(method: object) -> int:
    """Cost units of one request for ``method`` (1 for unknown names: they are answered cheaply)."""
    return METHOD_COSTS.get(method, 1) if isinstance(method, str) else 1


def limit_exceeded(message: str, key: str) -> Exception:
    """The -32005 error for a request over a limit, naming its ``[rpc]`` config key."""
    return rpc_error(LIMIT_EXCEEDED, f"{message} (limit [rpc] {key})")


_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON ``text``, brackets inside strings not counted.

    Linear in the text and done by C loops (regular expressions, ``map`` and
    ``accumulate``), so a 5 MiB body costs milliseconds. Text that is not
    valid JSON gets some number; the parser rejects it afterwards.
    """
    # Escapes first, so that every '"' left delimits a string; each pattern
    # then matches without backtracking.
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def nested_deeper_than(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests deeper than ``limit``; free for texts with few brackets."""
    return text.count("[") + text.count("{") > limit and nesting_depth(text) > limit
