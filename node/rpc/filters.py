"""Polling filters (``eth_newFilter`` and friends) and WebSocket subscriptions.

Both are fed by the backend's block and transaction listeners. Polling filters
expire after ``FILTER_TIMEOUT`` seconds without a poll, as in geth, so an
abandoned client cannot grow the node's memory without bound; a subscriber whose
outbound queue is full is dropped for the same reason.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth.abc import BlockAPI, ReceiptAPI

from node.backend import Backend, LogFilter, logs_of_block, matches
from node.rpc.format import header_json, hexb, log_json

FILTER_TIMEOUT = 300.0
MAX_FILTERS = 1_000
MAX_BUFFERED = 10_000


@dataclass(slots=True)
class LogCriteria:
    from_ref: int | str
    to_ref: int | str
    addresses: tuple[bytes, ...]
    topics: tuple[tuple[bytes, ...] | None, ...]


@dataclass(slots=True)
class PollFilter:
    kind: str
    """"logs", "blocks" or "pending"."""
    criteria: LogCriteria | None
    changes: list[Any] = field(default_factory=list)
    last_poll: float = field(default_factory=time.monotonic)


def new_id() -> str:
    return "0x" + secrets.token_hex(16)


class FilterManager:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.filters: dict[str, PollFilter] = {}
        backend.on_block(self._on_block)
        backend.on_transaction(self._on_transaction)

    def install(self, kind: str, criteria: LogCriteria | None = None) -> str:
        self._expire()
        if len(self.filters) >= MAX_FILTERS:
            raise OverflowError(f"too many installed filters (limit {MAX_FILTERS})")
        filter_id = new_id()
        self.filters[filter_id] = PollFilter(kind, criteria)
        return filter_id

    def uninstall(self, filter_id: str) -> bool:
        return self.filters.pop(filter_id, None) is not None

    def poll(self, filter_id: str) -> list[Any] | None:
        self._expire()
        found = self.filters.get(filter_id)
        if found is None:
            return None
        found.last_poll = time.monotonic()
        changes, found.changes = found.changes, []
        return changes

    def get(self, filter_id: str) -> PollFilter | None:
        self._expire()
        return self.filters.get(filter_id)

    def log_filter_for(self, criteria: LogCriteria) -> LogFilter:
        return LogFilter(
            from_block=self.backend.block_number(criteria.from_ref),
            to_block=self.backend.block_number(criteria.to_ref),
            addresses=criteria.addresses,
            topics=criteria.topics,
        )

    def _expire(self) -> None:
        deadline = time.monotonic() - FILTER_TIMEOUT
        for filter_id in [k for k, f in self.filters.items() if f.last_poll < deadline]:
            del self.filters[filter_id]

    def _on_block(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        entries = None
        for poll_filter in self.filters.values():
            if len(poll_filter.changes) >= MAX_BUFFERED:
                continue
            if poll_filter.kind == "blocks":
                poll_filter.changes.append(hexb(block.hash))
            elif poll_filter.kind == "logs" and poll_filter.criteria is not None:
                if entries is None:
                    entries = logs_of_block(block.header, receipts, block.transactions)
                log_filter = self.log_filter_for(poll_filter.criteria)
                # Tags resolve against the new head, so "latest" includes this block.
                if log_filter.from_block <= block.number <= log_filter.to_block:
                    poll_filter.changes.extend(log_json(e) for e in entries if matches(log_filter, e))

    def _on_transaction(self, tx_hash: bytes) -> None:
        for poll_filter in self.filters.values():
            if poll_filter.kind == "pending" and len(poll_filter.changes) < MAX_BUFFERED:
                poll_filter.changes.append(hexb(tx_hash))


@dataclass(slots=True)
class Subscription:
    kind: str
    criteria: LogFilter | None
    send: Callable[[dict[str, Any]], bool]
    """Queues a notification; returns False when the subscriber cannot keep up."""


class SubscriptionManager:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.subscriptions: dict[str, Subscription] = {}
        backend.on_block(self._on_block)
        backend.on_transaction(self._on_transaction)

    def subscribe(self, subscription: Subscription) -> str:
        subscription_id = new_id()
        self.subscriptions[subscription_id] = subscription
        return subscription_id

    def unsubscribe(self, subscription_id: str) -> bool:
        return self.subscriptions.pop(subscription_id, None) is not None

    def drop_connection(self, send: Callable[[dict[str, Any]], bool]) -> None:
        for subscription_id in [k for k, s in self.subscriptions.items() if s.send is send]:
            del self.subscriptions[subscription_id]

    def _notify(self, subscription_id: str, subscription: Subscription, result: Any) -> None:
        message = {
            "jsonrpc": "2.0",
            "method": "eth_subscription",
            "params": {"subscription": subscription_id, "result": result},
        }
        if not subscription.send(message):
            self.subscriptions.pop(subscription_id, None)

    def _on_block(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        entries = None
        for subscription_id, subscription in list(self.subscriptions.items()):
            if subscription.kind == "newHeads":
                self._notify(subscription_id, subscription, header_json(block.header))
            elif subscription.kind == "logs" and subscription.criteria is not None:
                if entries is None:
                    entries = logs_of_block(block.header, receipts, block.transactions)
                for entry in entries:
                    if matches(subscription.criteria, entry):
                        self._notify(subscription_id, subscription, log_json(entry))

    def _on_transaction(self, tx_hash: bytes) -> None:
        for subscription_id, subscription in list(self.subscriptions.items()):
            if subscription.kind == "newPendingTransactions":
                self._notify(subscription_id, subscription, hexb(tx_hash))
