"""The JSON-RPC namespaces: ``eth_``, ``net_``, ``web3_`` and dev-only ``evm_``.

Each public method of a namespace class is one RPC method, named mechanically
(``EthAPI.getBalance`` -> ``eth_getBalance``), as in geth's ``rpc/service.go``.
Methods take positional JSON parameters and return JSON values; they raise
``JsonRpcError`` with geth's codes and wording.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import structlog
from eth.abc import BlockHeaderAPI
from eth_hash.auto import keccak
from eth_utils import ValidationError, to_checksum_address

from node.backend import (
    Backend,
    BackendError,
    CallRequest,
    DevSnapshot,
    ExecutionFailed,
    ExecutionReverted,
    ExecutionTimedOut,
    InvalidTransaction,
    LogFilter,
    QueryTimedOut,
    SimulatedBlock,
    SimulationError,
    SimulationRequest,
)
from node.call_overrides import AccountOverride
from node.dev_accounts import DevSigner
from node.rpc import params as p
from node.rpc.errors import (
    EXECUTION_REVERTED,
    INVALID_PARAMS,
    LIMIT_EXCEEDED,
    SERVER_ERROR,
    invalid_argument,
    rpc_error,
)
from node.rpc.filters import FilterManager, LogCriteria, Subscription, SubscriptionManager
from node.rpc.format import (
    block_json,
    header_json,
    hexb,
    log_json,
    pending_block_json,
    qty,
    receipt_json,
    transaction_json,
)
from node.rpc.limits import RpcLimits, limit_exceeded, nested_deeper_than
from node.rpc.workers import ReadWorkers

log = structlog.get_logger("settle.rpc")

CLIENT_VERSION = "Settle/v0.1.0/python3.11/py-evm-0.12.1b1"
LOG_CHUNK_BLOCKS = 1_000
"""Blocks an eth_getLogs reads at a time, checking its result limits in between."""
CALL_FIELDS = {
    "from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value",
    "data", "input", "nonce", "type", "chainId", "accessList",
}


class Connection:
    """Per-connection context: WebSocket connections can subscribe; HTTP cannot."""

    def __init__(self, send: Callable[[str], bool] | None = None, client: str = "", bearer: str = "") -> None:
        self.send = send
        """Queues a message's JSON text on the WebSocket; None over HTTP."""
        self.client = client
        """Who holds the filters this request installs: one WebSocket, or one IP address over HTTP."""
        self.bearer = bearer
        """The bearer token the client presented (``Authorization: Bearer …``), for the admin namespace."""


class _Namespace:
    prefix = ""

    def methods(self) -> dict[str, Callable[..., Any]]:
        return {
            f"{self.prefix}_{name}": getattr(self, name)
            for name, _ in inspect.getmembers(type(self), inspect.isfunction)
            if not name.startswith("_") and name != "methods"
        }


def _header_not_found() -> Exception:
    return rpc_error(SERVER_ERROR, "header not found")


def resolve_header(backend: Backend, ref: int | str | bytes) -> BlockHeaderAPI | None:
    """The canonical header a block number, tag or hash names, or None."""
    store = backend.store
    if isinstance(ref, bytes):
        return store.header_by_hash(ref)
    if ref == "earliest":
        return store.header_by_number(0)
    if isinstance(ref, str):
        return store.head
    return store.header_by_number(ref)


def header_param(backend: Backend, value: Any, index: int) -> BlockHeaderAPI:
    """Parameter ``index`` as a block number, tag or hash; "header not found" if absent."""
    header = resolve_header(backend, p.block_ref(value, index))
    if header is None:
        raise _header_not_found()
    return header


class EthAPI(_Namespace):
    prefix = "eth"

    def __init__(
        self,
        backend: Backend,
        filters: FilterManager,
        subscriptions: SubscriptionManager,
        signer: DevSigner | None,
        limits: RpcLimits | None = None,
        workers: ReadWorkers | None = None,
    ) -> None:
        self.backend = backend
        self.filters = filters
        self.subscriptions = subscriptions
        self.signer = signer
        self.limits = limits or RpcLimits()
        self.workers = workers or ReadWorkers(2, backend.evm_timeout)
        """Where calls, gas estimates and log queries run: off the trio thread consensus uses."""

    # -- helpers -----------------------------------------------------------------
    def _resolve(self, ref: int | str | bytes) -> BlockHeaderAPI | None:
        return resolve_header(self.backend, ref)

    def _state_header(self, value: Any, index: int) -> BlockHeaderAPI:
        return header_param(self.backend, value, index)

    def _call_request(self, value: Any, index: int) -> CallRequest:
        fields = p.obj(value, index, CALL_FIELDS, "transaction")
        if "data" in fields and "input" in fields and fields["data"] != fields["input"]:
            raise invalid_argument(index, 'both "data" and "input" are set and not equal')
        payload = fields.get("input", fields.get("data"))
        return CallRequest(
            sender=p.address(fields["from"], index, "from") if fields.get("from") else b"\x00" * 20,
            to=p.address(fields["to"], index, "to") if fields.get("to") else None,
            gas=p.quantity(fields["gas"], index, "gas") if fields.get("gas") is not None else None,
            value=p.quantity(fields["value"], index, "value") if fields.get("value") is not None else 0,
            data=p.data(payload, index, "input") if payload is not None else b"",
            access_list=_access_list(fields["accessList"], index) if fields.get("accessList") else (),
        )

    def _execution_error(self, exc: BackendError) -> Exception:
        if isinstance(exc, ExecutionReverted):
            return rpc_error(EXECUTION_REVERTED, str(exc), hexb(exc.data))
        if isinstance(exc, ExecutionTimedOut):
            log.info("rpc execution timed out", timeout_seconds=exc.timeout_seconds)
        return rpc_error(SERVER_ERROR, str(exc))

    def _criteria(self, value: Any, index: int) -> tuple[LogCriteria, bytes | None]:
        fields = p.obj(value, index, {"fromBlock", "toBlock", "address", "topics", "blockHash"}, "filter")
        block_hash = None
        if "blockHash" in fields:
            if "fromBlock" in fields or "toBlock" in fields:
                raise invalid_argument(index, "filter: cannot specify both blockHash and fromBlock/toBlock")
            block_hash = p.block_hash(fields["blockHash"], index)
        from_ref = p.block_ref(fields.get("fromBlock", "latest"), index)
        to_ref = p.block_ref(fields.get("toBlock", "latest"), index)
        if isinstance(from_ref, bytes) or isinstance(to_ref, bytes):
            raise invalid_argument(index, "filter: fromBlock/toBlock must be numbers or tags")
        raw_addresses = fields.get("address")
        if raw_addresses is None:
            addresses: tuple[bytes, ...] = ()
        elif isinstance(raw_addresses, list):
            addresses = tuple(p.address(a, index, "address") for a in raw_addresses)
        else:
            addresses = (p.address(raw_addresses, index, "address"),)
        raw_topics = fields.get("topics") or []
        if not isinstance(raw_topics, list) or len(raw_topics) > 4:
            raise invalid_argument(index, "filter: topics must be a list of at most 4 entries")
        topics: list[tuple[bytes, ...] | None] = []
        for entry in raw_topics:
            if entry is None:
                topics.append(None)
            elif isinstance(entry, list):
                topics.append(tuple(p.fixed_bytes(t, index, 32, "topic") for t in entry) or None)
            else:
                topics.append((p.fixed_bytes(entry, index, 32, "topic"),))
        return LogCriteria(from_ref, to_ref, addresses, tuple(topics)), block_hash

    async def _logs(self, criteria: LogCriteria, block_hash: bytes | None) -> list[dict[str, Any]]:
        """The matching logs, or -32005 once they pass ``logs_max_results`` or ``logs_max_response_bytes``.

        The range is checked here; the blocks are read on a worker thread (:meth:`_collect_logs`).
        """
        limits = self.limits
        if block_hash is not None:
            header = self.backend.store.header_by_hash(block_hash)
            if header is None:
                raise rpc_error(SERVER_ERROR, "unknown block")
            first: int = header.block_number
            last: int = first
        else:
            first = self.backend.block_number(criteria.from_ref)
            last = self.backend.block_number(criteria.to_ref)
            if first > last:
                raise rpc_error(INVALID_PARAMS, "invalid block range params")
        last = min(last, self.backend.head.block_number)
        if last - first + 1 > limits.logs_max_block_range:
            raise limit_exceeded(f"query spans {last - first + 1} blocks, more than {limits.logs_max_block_range}",
                                 "logs_max_block_range")
        return await self.workers.run(self._collect_logs, first, last, criteria)

    def _collect_logs(self, first: int, last: int, criteria: LogCriteria,
                      deadline: float | None = None) -> list[dict[str, Any]]:
        """The logs of blocks ``first`` to ``last``, read on a worker thread, stopped at ``deadline``.

        The range is read a chunk of blocks at a time, so that a query over
        the limits stops after little more than the limit's worth of logs
        instead of first gathering the whole range. It reads only committed
        blocks (``Backend.get_logs`` is thread-safe).
        """
        limits = self.limits
        found: list[dict[str, Any]] = []
        size = 2
        for start in range(first, last + 1, LOG_CHUNK_BLOCKS):
            log_filter = LogFilter(start, min(last, start + LOG_CHUNK_BLOCKS - 1), criteria.addresses,
                                   criteria.topics)
            try:
                entries = self.backend.get_logs(log_filter, LOG_CHUNK_BLOCKS, deadline)
            except BackendError as exc:
                if isinstance(exc, QueryTimedOut):
                    log.info("rpc log query timed out", timeout_seconds=exc.timeout_seconds)
                raise rpc_error(LIMIT_EXCEEDED, str(exc)) from None
            if len(found) + len(entries) > limits.logs_max_results:
                raise limit_exceeded(f"query returned more than {limits.logs_max_results} logs; "
                                     "narrow the block range or the filter", "logs_max_results")
            for entry in entries:
                formatted = log_json(entry)
                size += len(json.dumps(formatted)) + 1
                if size > limits.logs_max_response_bytes:
                    raise limit_exceeded(f"query reply is larger than {limits.logs_max_response_bytes} bytes; "
                                         "narrow the block range or the filter", "logs_max_response_bytes")
                found.append(formatted)
        return found

    def _receipt(self, header: BlockHeaderAPI, index: int | None = None) -> list[dict[str, Any]]:
        committed = self.backend.committed_block(header)
        out = []
        previous = 0
        for i, (tx, receipt) in enumerate(zip(committed.block.transactions, committed.receipts, strict=True)):
            if index is None or i == index:
                logs = [e for e in committed.logs if e.transaction_index == i]
                out.append(receipt_json(tx, receipt, header, i, previous, logs))
            previous = receipt.gas_used
        return out

    # -- chain state -------------------------------------------------------------
    def chainId(self) -> str:
        return qty(self.backend.chain_id)

    def blockNumber(self) -> str:
        return qty(self.backend.head.block_number)

    def syncing(self) -> bool:
        return False

    def mining(self) -> bool:
        return False

    def hashrate(self) -> str:
        return qty(0)

    def coinbase(self) -> str:
        return to_checksum_address(self.backend.coinbase)

    def getBalance(self, address: Any, block: Any = "latest") -> str:
        account = p.address(address, 0)
        return qty(self.backend.state_at(self._state_header(block, 1)).get_balance(account))

    def getCode(self, address: Any, block: Any = "latest") -> str:
        account = p.address(address, 0)
        return hexb(self.backend.state_at(self._state_header(block, 1)).get_code(account))

    def getStorageAt(self, address: Any, slot: Any, block: Any = "latest") -> str:
        account = p.address(address, 0)
        position = p.storage_slot(slot, 1)
        value = self.backend.state_at(self._state_header(block, 2)).get_storage(account, position)
        return hexb(value.to_bytes(32, "big"))

    def getTransactionCount(self, address: Any, block: Any = "latest") -> str:
        account = p.address(address, 0)
        if block == "pending":
            return qty(self.backend.pending_nonce(account))
        return qty(self.backend.state_at(self._state_header(block, 1)).get_nonce(account))

    # -- fees --------------------------------------------------------------------
    def gasPrice(self) -> str:
        return qty(0)

    def maxPriorityFeePerGas(self) -> str:
        return qty(0)

    def blobBaseFee(self) -> str:
        return qty(0)

    def feeHistory(self, block_count: Any, newest: Any, percentiles: Any = None) -> dict[str, Any]:
        limits = self.limits
        count = p.quantity(block_count, 0, "block count")
        if count < 1:
            raise invalid_argument(0, "block count must be at least 1")
        if count > limits.fee_history_max_blocks:
            raise limit_exceeded(f"block count {count} is more than {limits.fee_history_max_blocks}",
                                 "fee_history_max_blocks")
        newest_header = self._state_header(newest, 1)
        if percentiles is not None and (
            not isinstance(percentiles, list)
            or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 100 for x in percentiles)
            or percentiles != sorted(percentiles)
        ):
            raise invalid_argument(2, "reward percentiles must be ascending numbers in [0, 100]")
        if percentiles is not None and len(percentiles) > limits.fee_history_max_percentiles:
            raise limit_exceeded(f"{len(percentiles)} reward percentiles are more than "
                                 f"{limits.fee_history_max_percentiles}", "fee_history_max_percentiles")
        oldest = max(0, newest_header.block_number - count + 1)
        headers = [self.backend.store.header_by_number(n) for n in range(oldest, newest_header.block_number + 1)]
        result: dict[str, Any] = {
            "oldestBlock": qty(oldest),
            "baseFeePerGas": [qty(0)] * (len(headers) + 1),
            "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers if h is not None],
            "baseFeePerBlobGas": [qty(0)] * (len(headers) + 1),
            "blobGasUsedRatio": [0.0] * len(headers),
        }
        if percentiles is not None:
            # Fees are zero on this chain, so every percentile of every block's tips is 0
            # unless a sender chose to tip; report the tips actually paid.
            rewards = []
            for header in headers:
                assert header is not None
                tips = sorted(
                    min(tx.max_fee_per_gas, tx.max_priority_fee_per_gas)
                    for tx in self.backend.store.block(header).transactions
                )
                rewards.append(
                    [qty(tips[min(len(tips) - 1, int(len(tips) * pct / 100))] if tips else 0) for pct in percentiles]
                )
            result["reward"] = rewards
        return result

    # -- blocks ------------------------------------------------------------------
    def getBlockByNumber(self, block: Any, full: Any = False) -> dict[str, Any] | None:
        ref = p.block_ref(block, 0)
        full_transactions = p.boolean(full, 1)
        if ref == "pending":
            return pending_block_json(self.backend.head, self.backend.next_block_time(),
                                      self._pending_transactions(), full_transactions)
        header = self._resolve(ref)
        return None if header is None else block_json(self.backend.store.block(header), full_transactions)

    def _pending_transactions(self) -> list[Any]:
        """The pool's transactions in the order a block would take them, at most a block's gas limit of them."""
        taken = []
        gas = 0
        for transaction in self.backend.mempool.candidates():
            if gas + transaction.gas > self.backend.head.gas_limit:
                break
            gas += transaction.gas
            taken.append(transaction)
        return taken

    def getBlockByHash(self, block_hash: Any, full: Any = False) -> dict[str, Any] | None:
        header = self.backend.store.header_by_hash(p.block_hash(block_hash, 0))
        return None if header is None else block_json(self.backend.store.block(header), p.boolean(full, 1))

    def getBlockTransactionCountByNumber(self, block: Any) -> str | None:
        ref = p.block_ref(block, 0)
        if ref == "pending":
            return qty(len(self._pending_transactions()))
        header = self._resolve(ref)
        return None if header is None else qty(len(self.backend.store.block(header).transactions))

    def getBlockTransactionCountByHash(self, block_hash: Any) -> str | None:
        header = self.backend.store.header_by_hash(p.block_hash(block_hash, 0))
        return None if header is None else qty(len(self.backend.store.block(header).transactions))

    def getUncleCountByBlockNumber(self, block: Any) -> str | None:
        return None if self._resolve(p.block_ref(block, 0)) is None else qty(0)

    def getUncleCountByBlockHash(self, block_hash: Any) -> str | None:
        return None if self.backend.store.header_by_hash(p.block_hash(block_hash, 0)) is None else qty(0)

    # -- transactions ------------------------------------------------------------
    def _tx_at(self, header: BlockHeaderAPI | None, index: int) -> dict[str, Any] | None:
        if header is None:
            return None
        transactions = self.backend.store.block(header).transactions
        return transaction_json(transactions[index], header, index) if index < len(transactions) else None

    def getTransactionByHash(self, tx_hash: Any) -> dict[str, Any] | None:
        wanted = p.tx_hash(tx_hash, 0)
        location = self.backend.store.transaction_location(wanted)
        if location is None:
            pending = self.backend.mempool.get(wanted)
            return None if pending is None else transaction_json(pending, None, None)
        number, index = location
        return self._tx_at(self.backend.store.header_by_number(number), index)

    def getTransactionByBlockHashAndIndex(self, block_hash: Any, index: Any) -> dict[str, Any] | None:
        header = self.backend.store.header_by_hash(p.block_hash(block_hash, 0))
        return self._tx_at(header, p.quantity(index, 1, "index"))

    def getTransactionByBlockNumberAndIndex(self, block: Any, index: Any) -> dict[str, Any] | None:
        header = self._resolve(p.block_ref(block, 0))
        return self._tx_at(header, p.quantity(index, 1, "index"))

    def _raw_at(self, header: BlockHeaderAPI | None, index: int) -> str | None:
        if header is None:
            return None
        transactions = self.backend.store.block(header).transactions
        return hexb(transactions[index].encode()) if index < len(transactions) else None

    def getRawTransactionByHash(self, tx_hash: Any) -> str | None:
        wanted = p.tx_hash(tx_hash, 0)
        location = self.backend.store.transaction_location(wanted)
        if location is None:
            pending = self.backend.mempool.get(wanted)
            return None if pending is None else hexb(pending.encode())
        number, index = location
        return self._raw_at(self.backend.store.header_by_number(number), index)

    def getRawTransactionByBlockHashAndIndex(self, block_hash: Any, index: Any) -> str | None:
        header = self.backend.store.header_by_hash(p.block_hash(block_hash, 0))
        return self._raw_at(header, p.quantity(index, 1, "index"))

    def getRawTransactionByBlockNumberAndIndex(self, block: Any, index: Any) -> str | None:
        return self._raw_at(self._resolve(p.block_ref(block, 0)), p.quantity(index, 1, "index"))

    def getTransactionReceipt(self, tx_hash: Any) -> dict[str, Any] | None:
        location = self.backend.store.transaction_location(p.tx_hash(tx_hash, 0))
        if location is None:
            return None
        number, index = location
        header = self.backend.store.header_by_number(number)
        assert header is not None
        return self._receipt(header, index)[0]

    def getBlockReceipts(self, block: Any) -> list[dict[str, Any]] | None:
        header = self._resolve(p.block_ref(block, 0))
        return None if header is None else self._receipt(header)

    def sendRawTransaction(self, raw: Any) -> str:
        try:
            return hexb(self.backend.send_raw_transaction(p.data(raw, 0, "transaction")))
        except InvalidTransaction as exc:
            raise rpc_error(SERVER_ERROR, str(exc)) from None

    # -- execution ---------------------------------------------------------------
    # Calls, estimates and log queries: parameters are checked here, on the trio
    # thread; the work runs on a worker thread (node.rpc.workers).
    async def call(self, transaction: Any, block: Any = "latest", state_overrides: Any = None,
                   block_overrides: Any = None) -> str:
        request = self._call_request(transaction, 0)
        header = self._state_header(block, 1)
        overrides = p.state_overrides(state_overrides, 2, self.limits.override_max_accounts)
        overrides = dataclasses.replace(overrides, block=p.block_overrides(block_overrides, 3))
        try:
            call = functools.partial(self.backend.call, overrides=overrides)
            return hexb(await self.workers.run(call, request, header))
        except (ExecutionReverted, ExecutionFailed, ExecutionTimedOut) as exc:
            raise self._execution_error(exc) from None

    async def estimateGas(self, transaction: Any, block: Any = "latest", state_overrides: Any = None) -> str:
        request = self._call_request(transaction, 0)
        header = self._state_header(block, 1)
        overrides = p.state_overrides(state_overrides, 2, self.limits.override_max_accounts)
        try:
            estimate = functools.partial(self.backend.estimate_gas, overrides=overrides)
            return qty(await self.workers.run(estimate, request, header))
        except (ExecutionReverted, ExecutionFailed, ExecutionTimedOut) as exc:
            raise self._execution_error(exc) from None

    async def createAccessList(self, transaction: Any, block: Any = "latest",
                               state_overrides: Any = None) -> dict[str, Any]:
        """geth's answer: the list, the gas used with it, and the failure (as ``error``) if the call fails."""
        request = self._call_request(transaction, 0)
        header = self._state_header(block, 1)
        overrides = p.state_overrides(state_overrides, 2, self.limits.override_max_accounts)
        try:
            access_list, result = await self.workers.run(
                functools.partial(self.backend.create_access_list, overrides=overrides), request, header)
        except (ExecutionFailed, ExecutionTimedOut) as exc:
            raise self._execution_error(exc) from None
        answer: dict[str, Any] = {
            "accessList": [
                {"address": to_checksum_address(address), "storageKeys": [hexb(k.to_bytes(32, "big")) for k in keys]}
                for address, keys in access_list
            ],
            "gasUsed": qty(result.gas_used),
        }
        if result.error is not None:
            answer["error"] = str(result.error)
        return answer

    async def simulateV1(self, options: Any, block: Any = "latest") -> list[dict[str, Any]]:
        """geth's multi-block call simulation (``eth_simulateV1``), on the state after ``block``."""
        fields = p.obj(options, 0, {"blockStateCalls", "validation", "traceTransfers", "returnFullTransactions"},
                       "simulation")
        blocks = fields.get("blockStateCalls")
        if not isinstance(blocks, list) or not blocks:
            raise invalid_argument(0, "simulation: blockStateCalls must be a non-empty list")
        for flag in ("validation", "traceTransfers", "returnFullTransactions"):
            if flag in fields:
                p.boolean(fields[flag], 0)
        limits = self.limits
        if len(blocks) > limits.simulate_max_blocks:
            raise limit_exceeded(f"simulation of {len(blocks)} blocks, more than {limits.simulate_max_blocks}",
                                 "simulate_max_blocks")
        requests = []
        calls = 0
        for entry in blocks:
            block_fields = p.obj(entry, 0, {"blockOverrides", "stateOverrides", "calls"}, "block state call")
            raw_calls = block_fields.get("calls") or []
            if not isinstance(raw_calls, list):
                raise invalid_argument(0, "block state call: calls must be a list")
            calls += len(raw_calls)
            if calls > limits.simulate_max_calls:
                raise limit_exceeded(f"simulation of more than {limits.simulate_max_calls} calls",
                                     "simulate_max_calls")
            overrides = p.state_overrides(block_fields.get("stateOverrides"), 0, limits.override_max_accounts)
            overrides = dataclasses.replace(overrides, block=p.block_overrides(block_fields.get("blockOverrides"), 0))
            requests.append(SimulationRequest(overrides, tuple(self._call_request(c, 0) for c in raw_calls)))
        header = self._state_header(block, 1)
        full = fields.get("returnFullTransactions") is True
        try:
            simulated = await self.workers.run(self.backend.simulate, tuple(requests), header)
        except SimulationError as exc:
            raise rpc_error(SERVER_ERROR, str(exc)) from None
        except (ExecutionFailed, ExecutionTimedOut) as exc:
            raise self._execution_error(exc) from None
        return [_simulated_block_json(block_result, request, full) for block_result, request
                in zip(simulated, requests, strict=True)]

    # -- logs and filters --------------------------------------------------------
    async def getLogs(self, log_filter: Any) -> list[dict[str, Any]]:
        return await self._logs(*self._criteria(log_filter, 0))

    def newFilter(self, connection: Connection, log_filter: Any) -> str:
        criteria, block_hash = self._criteria(log_filter, 0)
        if block_hash is not None:
            raise invalid_argument(0, "filter: blockHash is not allowed in eth_newFilter")
        return self.filters.install("logs", criteria, connection.client)

    def newBlockFilter(self, connection: Connection) -> str:
        return self.filters.install("blocks", None, connection.client)

    def newPendingTransactionFilter(self, connection: Connection, full: Any = False) -> str:
        p.boolean(full, 0)
        return self.filters.install("pending", None, connection.client)

    def getFilterChanges(self, filter_id: Any) -> list[Any]:
        changes = self.filters.poll(_filter_id(filter_id))
        if changes is None:
            raise rpc_error(SERVER_ERROR, "filter not found")
        return changes

    async def getFilterLogs(self, filter_id: Any) -> list[dict[str, Any]]:
        found = self.filters.get(_filter_id(filter_id))
        if found is None or found.criteria is None:
            raise rpc_error(SERVER_ERROR, "filter not found")
        return await self._logs(found.criteria, None)

    def uninstallFilter(self, filter_id: Any) -> bool:
        return self.filters.uninstall(_filter_id(filter_id))

    # -- accounts and signing (dev chain) ----------------------------------------
    def accounts(self) -> list[str]:
        return [to_checksum_address(a) for a in self.signer.addresses] if self.signer else []

    def _unlocked(self, value: Any, index: int) -> bytes:
        account = p.address(value, index, "from")
        if self.signer is None or self.signer.account(account) is None:
            raise rpc_error(SERVER_ERROR, f"unknown account 0x{account.hex()}: this node holds no key for it")
        return account

    def sign(self, address: Any, message: Any) -> str:
        account = self._unlocked(address, 0)
        assert self.signer is not None
        return hexb(self.signer.sign_message(account, p.data(message, 1, "message")))

    def signTypedData_v4(self, address: Any, typed_data: Any) -> str:
        account = self._unlocked(address, 0)
        if isinstance(typed_data, str):
            # The request's own nesting was bounded before parsing; a string is parsed here, so bound it too.
            if nested_deeper_than(typed_data, self.limits.max_json_depth):
                raise invalid_argument(1, f"typed data nested deeper than {self.limits.max_json_depth} levels")
            try:
                typed_data = json.loads(typed_data)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
                raise invalid_argument(1, f"typed data is not valid JSON: {exc}") from None
        _check_typed_data(typed_data)
        assert self.signer is not None
        try:
            return hexb(self.signer.sign_typed_data(account, typed_data))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise invalid_argument(1, f"invalid typed data: {exc}") from None

    def signTypedData(self, address: Any, typed_data: Any) -> str:
        """web3.py's name for EIP-712 signing; the same as ``eth_signTypedData_v4``."""
        return self.signTypedData_v4(address, typed_data)

    async def _fill_and_sign(self, transaction: Any) -> bytes:
        """The raw signed transaction for a request from an unlocked account, missing fields filled as geth does."""
        fields = p.obj(transaction, 0, CALL_FIELDS, "transaction")
        if "from" not in fields:
            raise invalid_argument(0, "transaction: missing \"from\"")
        sender = self._unlocked(fields["from"], 0)
        request = self._call_request(fields, 0)
        nonce = p.quantity(fields["nonce"], 0, "nonce") if "nonce" in fields else None
        if request.gas is not None:
            gas = request.gas
        else:
            try:
                gas = await self.workers.run(self.backend.estimate_gas, request, self.backend.head)
            except (ExecutionReverted, ExecutionFailed, ExecutionTimedOut) as exc:
                raise self._execution_error(exc) from None
        if nonce is None:
            # Taken after the last await: sendTransaction adds the transaction to the pool before any other
            # request (one of the same batch, say) can take the same nonce.
            nonce = self.backend.pending_nonce(sender)
        tx: dict[str, Any] = {
            "chainId": self.backend.chain_id,
            "nonce": nonce,
            "gas": gas,
            "value": request.value,
            "data": request.data,
        }
        if request.to is not None:
            tx["to"] = request.to
        if request.access_list:
            tx["accessList"] = [
                {"address": to_checksum_address(a), "storageKeys": [hexb(k.to_bytes(32, "big")) for k in keys]}
                for a, keys in request.access_list
            ]
        if "gasPrice" in fields:
            tx["gasPrice"] = p.quantity(fields["gasPrice"], 0, "gasPrice")
        else:
            tx["maxFeePerGas"] = p.quantity(fields.get("maxFeePerGas", "0x0"), 0, "maxFeePerGas")
            tx["maxPriorityFeePerGas"] = p.quantity(
                fields.get("maxPriorityFeePerGas", "0x0"), 0, "maxPriorityFeePerGas"
            )
        assert self.signer is not None
        return self.signer.sign_transaction(sender, tx)

    async def sendTransaction(self, transaction: Any) -> str:
        raw = await self._fill_and_sign(transaction)
        try:
            return hexb(self.backend.send_raw_transaction(raw))
        except InvalidTransaction as exc:
            raise rpc_error(SERVER_ERROR, str(exc)) from None

    async def signTransaction(self, transaction: Any) -> dict[str, Any]:
        """Sign without sending, as geth: ``{raw, tx}`` (the caller may send ``raw`` later)."""
        raw = await self._fill_and_sign(transaction)
        try:
            decoded = self.backend.decode_transaction(raw)
        except InvalidTransaction as exc:  # pragma: no cover - the node's own signer made it
            raise rpc_error(SERVER_ERROR, str(exc)) from None
        return {"raw": hexb(raw), "tx": transaction_json(decoded, None, None)}

    # -- subscriptions (WebSocket only) ------------------------------------------
    def subscribe(self, connection: Connection, kind: Any, options: Any = None) -> str:
        if connection.send is None:
            raise rpc_error(-32601, "notifications not supported: use a WebSocket connection")
        if kind == "newHeads":
            return self.subscriptions.subscribe(Subscription(kind, None, connection.send))
        if kind == "newPendingTransactions":
            full = p.boolean(options, 1) if options is not None else False
            return self.subscriptions.subscribe(Subscription(kind, None, connection.send, full))
        if kind == "syncing":
            # A node that serves RPC follows the chain as it commits: it only syncs while it
            # catches up, before or between commits, and eth_syncing then still reports false.
            # So, as geth when it is not syncing, the subscription is accepted and stays silent.
            return self.subscriptions.subscribe(Subscription(kind, None, connection.send))
        if kind == "logs":
            criteria, _ = self._criteria(options or {}, 1)
            log_filter = LogFilter(0, 2**63, criteria.addresses, criteria.topics)
            return self.subscriptions.subscribe(Subscription("logs", log_filter, connection.send))
        raise invalid_argument(0, f"unsupported subscription type {kind!r} "
                                  "(newHeads, logs, newPendingTransactions, syncing)")

    def unsubscribe(self, connection: Connection, subscription_id: Any) -> bool:
        if not isinstance(subscription_id, str):
            raise invalid_argument(0, "subscription id must be a string")
        return self.subscriptions.unsubscribe(subscription_id)


def _check_typed_data(value: Any) -> None:
    """EIP-712's shape, checked before eth_account reads it (it assumes the shape and fails with AttributeError)."""
    if not isinstance(value, dict):
        raise invalid_argument(1, "typed data must be an object")
    types = value.get("types")
    if not isinstance(types, dict) or not all(
        isinstance(fields, list)
        and all(isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("type"), str)
                for f in fields)
        for fields in types.values()
    ):
        raise invalid_argument(1, "typed data: types must map each type name to a list of {name, type} strings")
    if not isinstance(value.get("primaryType"), str):
        raise invalid_argument(1, "typed data: primaryType must be a string")
    for part in ("domain", "message"):
        if not isinstance(value.get(part), dict):
            raise invalid_argument(1, f"typed data: {part} must be an object")
    if value["primaryType"] in types:
        _check_typed_arrays(types, value["primaryType"], value["message"], value["primaryType"], 0)
    if "EIP712Domain" in types:
        _check_typed_arrays(types, "EIP712Domain", value["domain"], "domain", 0)


_ARRAY_SUFFIX = re.compile(r"^(.*)\[(\d*)\]$")


def _check_typed_arrays(types: dict[str, Any], type_name: str, value: Any, path: str, depth: int) -> None:
    """Every array in ``value`` (of EIP-712 type ``type_name``) is a list of the declared length, as geth checks.

    eth_account encodes a ``Person[2]`` holding one item without complaint; geth refuses it.
    """
    if depth > len(types) + 8:  # types that refer to themselves: the request's depth bound still holds
        raise invalid_argument(1, f"typed data: {path} nests types too deeply")
    array = _ARRAY_SUFFIX.match(type_name)
    if array is not None:
        if not isinstance(value, list):
            raise invalid_argument(1, f"typed data: {path} must be an array ({type_name})")
        if array.group(2) and len(value) != int(array.group(2)):
            raise invalid_argument(1, f"typed data: {path} has {len(value)} items, the type {type_name} wants "
                                      f"{int(array.group(2))}")
        for index, item in enumerate(value):
            _check_typed_arrays(types, array.group(1), item, f"{path}[{index}]", depth + 1)
    elif type_name in types:
        if not isinstance(value, dict):
            raise invalid_argument(1, f"typed data: {path} must be an object ({type_name})")
        for field_type in types[type_name]:
            if field_type["name"] in value:
                _check_typed_arrays(types, field_type["type"], value[field_type["name"]],
                                    f"{path}.{field_type['name']}", depth + 1)


def _access_list(value: Any, index: int) -> tuple[tuple[bytes, tuple[int, ...]], ...]:
    """An EIP-2930 access list: ``[{address, storageKeys}]``."""
    if not isinstance(value, list):
        raise invalid_argument(index, "accessList: expected a list")
    entries = []
    for entry in value:
        fields = p.obj(entry, index, {"address", "storageKeys"}, "accessList entry")
        keys = fields.get("storageKeys") or []
        if not isinstance(keys, list):
            raise invalid_argument(index, "accessList entry: storageKeys must be a list")
        entries.append((
            p.address(fields.get("address"), index, "accessList address"),
            tuple(int.from_bytes(p.fixed_bytes(k, index, 32, "storage key"), "big") for k in keys),
        ))
    return tuple(entries)


SIMULATION_VM_ERROR = -32015
"""geth's code for a simulated call that failed without reverting (out of gas, invalid opcode...)."""


def _simulated_block_json(simulated: SimulatedBlock, request: SimulationRequest, full: bool) -> dict[str, Any]:
    """A simulated block as geth's eth_simulateV1 renders it: the block, and ``calls`` with each call's outcome."""
    header = simulated.header
    out = header_json(header)
    block_hash = hexb(header.hash)
    calls = []
    log_index = 0
    for tx_index, (tx_hash, result) in enumerate(simulated.calls):
        call: dict[str, Any] = {
            "returnData": hexb(result.output),
            "gasUsed": qty(result.gas_used),
            "status": qty(0 if result.error is not None else 1),
            "logs": [],
        }
        for address, topics, data in result.logs:
            call["logs"].append({
                "address": to_checksum_address(address), "topics": [hexb(t) for t in topics], "data": hexb(data),
                "blockNumber": qty(header.block_number), "blockHash": block_hash, "transactionHash": hexb(tx_hash),
                "transactionIndex": qty(tx_index), "logIndex": qty(log_index), "removed": False,
            })
            log_index += 1
        if isinstance(result.error, ExecutionReverted):
            call["error"] = {"code": EXECUTION_REVERTED, "message": str(result.error), "data": hexb(result.error.data)}
        elif result.error is not None:
            call["error"] = {"code": SIMULATION_VM_ERROR, "message": str(result.error)}
        calls.append(call)
    if full:
        out["transactions"] = [
            {"hash": hexb(tx_hash), "from": to_checksum_address(call.sender),
             "to": to_checksum_address(call.to) if call.to is not None else None, "input": hexb(call.data),
             "value": qty(call.value), "gas": qty(call.gas) if call.gas is not None else None,
             "blockHash": block_hash, "blockNumber": qty(header.block_number), "transactionIndex": qty(index)}
            for index, ((tx_hash, _), call) in enumerate(zip(simulated.calls, request.calls, strict=True))
        ]
    else:
        out["transactions"] = [hexb(tx_hash) for tx_hash, _ in simulated.calls]
    out["uncles"] = []
    out["withdrawals"] = []
    out["calls"] = calls
    return out


def _filter_id(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise invalid_argument(0, "filter id must be a 0x-prefixed hex string")
    return value


class NetAPI(_Namespace):
    prefix = "net"

    def __init__(self, backend: Backend, peer_count: Callable[[], int] = lambda: 0) -> None:
        self.backend = backend
        self.peer_count = peer_count

    def version(self) -> str:
        return str(self.backend.chain_id)

    def listening(self) -> bool:
        return True

    def peerCount(self) -> str:
        return qty(self.peer_count())


class Web3API(_Namespace):
    prefix = "web3"

    def clientVersion(self) -> str:
        return CLIENT_VERSION

    def sha3(self, value: Any) -> str:
        return hexb(keccak(p.data(value, 0)))


class TxpoolAPI(_Namespace):
    """geth's ``txpool_`` namespace: what the pool holds, for operators and wallets.

    Settle refuses transactions with a nonce gap instead of queueing them, so
    ``queued`` is always empty and every pooled transaction is ``pending``.
    """

    prefix = "txpool"

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _by_sender(self) -> dict[str, dict[str, Any]]:
        grouped: dict[str, dict[str, Any]] = {}
        for transaction in self.backend.mempool.candidates():
            grouped.setdefault(to_checksum_address(transaction.sender), {})[str(transaction.nonce)] = transaction
        return grouped

    def content(self) -> dict[str, Any]:
        pending = {
            sender: {nonce: transaction_json(tx, None, None) for nonce, tx in nonces.items()}
            for sender, nonces in self._by_sender().items()
        }
        return {"pending": pending, "queued": {}}

    def contentFrom(self, address: Any) -> dict[str, Any]:
        account = to_checksum_address(p.address(address, 0))
        nonces = self._by_sender().get(account, {})
        return {"pending": {nonce: transaction_json(tx, None, None) for nonce, tx in nonces.items()}, "queued": {}}

    def status(self) -> dict[str, str]:
        return {"pending": qty(len(self.backend.mempool)), "queued": qty(0)}

    def inspect(self) -> dict[str, Any]:
        """geth's one-line summaries: ``0xTo: value wei + gas gas × price wei``."""
        pending = {
            sender: {nonce: _inspect_line(tx) for nonce, tx in nonces.items()}
            for sender, nonces in self._by_sender().items()
        }
        return {"pending": pending, "queued": {}}


def _inspect_line(transaction: Any) -> str:
    to = to_checksum_address(transaction.to) if transaction.to else "contract creation"
    price = transaction.max_fee_per_gas
    return f"{to}: {transaction.value} wei + {transaction.gas} gas × {price} wei"


class RpcAPI(_Namespace):
    """geth's ``rpc_modules``: the namespaces this node serves, each at version 1.0."""

    prefix = "rpc"

    def __init__(self, served: Callable[[], list[str]]) -> None:
        self.served = served
        """Every method name the dispatcher serves (read when asked: namespaces are added after this one)."""

    def modules(self) -> dict[str, str]:
        return {name: "1.0" for name in sorted({method.split("_", 1)[0] for method in self.served()})}


class DevAPI(_Namespace):
    """Hardhat/anvil-compatible controls, served only by ``settle node dev``."""

    prefix = "evm"

    def __init__(self, backend: Backend, engine: Any = None, limits: RpcLimits | None = None) -> None:
        self.backend = backend
        self.engine = engine
        """The consensus engine (node.engine.ConsensusEngine) that commits blocks."""
        self.limits = limits or RpcLimits()
        self._snapshots: dict[int, DevSnapshot] = {}
        self._snapshot_ids = itertools.count(1)

    def _mine(self) -> None:
        if self.engine is not None:
            self.engine.mine_now()
        else:
            self.backend.produce_block(allow_empty=True)

    def mine(self, timestamp: Any = None) -> str:
        if timestamp is not None:
            target = p.quantity(timestamp, 0, "timestamp")
            self.backend.time_offset = max(0, target - int(self.backend.clock()))
        self._mine()
        return "0x0"

    def increaseTime(self, seconds: Any) -> str:
        delta = p.quantity(seconds, 0, "seconds") if not isinstance(seconds, int) else seconds
        if delta < 0:
            raise invalid_argument(0, "seconds must be non-negative")
        self.backend.time_offset += delta
        return qty(self.backend.time_offset)

    def setNextBlockTimestamp(self, timestamp: Any) -> str:
        """The next block's exact timestamp; later blocks go on from it (Hardhat's behaviour)."""
        target = p.quantity(timestamp, 0, "timestamp")
        head_time = self.backend.head.timestamp
        if target <= head_time:
            raise invalid_argument(0, f"timestamp {target} is not after the latest block's {head_time}")
        self.backend.next_timestamp = target
        return qty(target)

    def setAutomine(self, enabled: Any) -> bool:
        """On, a block follows each transaction; off, transactions wait for evm_mine or the next interval."""
        on = p.boolean(enabled, 0)
        if self.engine is None:
            raise rpc_error(SERVER_ERROR, "this node has no block producer")
        self.engine.set_automine(on)
        return True

    def snapshot(self) -> str:
        """A snapshot of the chain, the pool and the clock; :meth:`revert` returns to it (Hardhat's semantics)."""
        if len(self._snapshots) >= self.limits.dev_max_snapshots:
            raise limit_exceeded(f"{self.limits.dev_max_snapshots} snapshots are kept already; revert to one "
                                 "to free it and the later ones", "dev_max_snapshots")
        snapshot_id = next(self._snapshot_ids)
        self._snapshots[snapshot_id] = self.backend.snapshot()
        return qty(snapshot_id)

    def revert(self, snapshot_id: Any) -> bool:
        """Back to a snapshot: later blocks are dropped from the store, the pool is restored.

        As in Hardhat, the snapshot and every later one are used up; an
        unknown id answers false.
        """
        wanted = p.quantity(snapshot_id, 0, "snapshot id")
        snapshot = self._snapshots.get(wanted)
        if snapshot is None:
            return False
        for later in [key for key in self._snapshots if key >= wanted]:
            del self._snapshots[later]
        self.backend.revert_to(snapshot)
        if self.engine is not None:
            self.engine.chain_rewound()
        for raw in snapshot.pending:
            try:
                self.backend.send_raw_transaction(raw, local=False)
            except InvalidTransaction as exc:
                log.info("transaction not restored after revert", reason=str(exc))
        return True


class HardhatAPI(_Namespace):
    """Hardhat's state-editing helpers, served only by ``settle node dev``.

    Each edit is written by a block mined at once (the dev chain's blocks
    carry the state they commit to, so an edit cannot happen between blocks).
    """

    prefix = "hardhat"

    def __init__(self, backend: Backend, dev: DevAPI) -> None:
        self.backend = backend
        self.dev = dev

    def _edit(self, address: Any, edit: AccountOverride) -> bool:
        self.backend.edit_state({p.address(address, 0): edit})
        self.dev._mine()
        return True

    def setBalance(self, address: Any, balance: Any) -> bool:
        return self._edit(address, AccountOverride(balance=p.quantity(balance, 1, "balance")))

    def setNonce(self, address: Any, nonce: Any) -> bool:
        return self._edit(address, AccountOverride(nonce=p.quantity(nonce, 1, "nonce")))

    def setCode(self, address: Any, code: Any) -> bool:
        return self._edit(address, AccountOverride(code=p.data(code, 1, "code")))

    def mine(self, blocks: Any = "0x1", interval: Any = "0x1") -> bool:
        """Mine ``blocks`` blocks at once, ``interval`` seconds apart (Hardhat's ``hardhat_mine``)."""
        count = p.quantity(blocks, 0, "blocks")
        spacing = p.quantity(interval, 1, "interval")
        limit = self.dev.limits.dev_mine_max_blocks
        if count > limit:
            raise limit_exceeded(f"hardhat_mine of {count} blocks, more than {limit}", "dev_mine_max_blocks")
        for index in range(count):
            if index > 0:
                self.backend.next_timestamp = self.backend.head.timestamp + spacing
            self.dev._mine()
        return True

    def setStorageAt(self, address: Any, slot: Any, value: Any) -> bool:
        position = p.storage_slot(slot, 1)
        word = int.from_bytes(p.fixed_bytes(value, 2, 32, "value"), "big")
        return self._edit(address, AccountOverride(state_diff={position: word}))


def dev_namespaces(backend: Backend, engine: Any, enabled: bool, limits: RpcLimits | None = None) -> list[_Namespace]:
    """``evm_`` and ``hardhat_``, for ``settle node dev`` only (``enabled``); none otherwise."""
    if not enabled:
        return []
    dev = DevAPI(backend, engine, limits)
    return [dev, HardhatAPI(backend, dev)]
