"""Polling filters (``eth_newFilter`` and friends) and WebSocket subscriptions.

Both are fed by the backend's block and transaction listeners, and both are
bounded (``node/rpc/limits.py``) so that no client can grow the node's memory
or its per-block work without limit:

- polling filters expire after ``filter_timeout_seconds`` without a poll, as in
  geth; at most ``max_filters`` exist, and at most ``filters_per_client`` per
  client (a WebSocket connection, or an IP address over HTTP), so one client
  cannot take every slot; each buffers at most ``filter_max_changes`` changes;
- subscriptions: at most ``max_subscriptions`` in all and
  ``subscriptions_per_connection`` per WebSocket; a subscriber whose outbound
  queue is full is dropped. Each notification's result is serialised once per
  block, not once per subscriber.
"""
from __future__ import annotations

import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI

from node.backend import Backend, LogFilter, logs_of_block, matches
from node.rpc.format import header_json, hexb, log_json, transaction_json
from node.rpc.limits import RpcLimits, limit_exceeded


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
    owner: str = ""
    """The client that installed it (``Connection.client``)."""
    changes: list[Any] = field(default_factory=list)
    last_poll: float = field(default_factory=time.monotonic)


def new_id() -> str:
    return "0x" + secrets.token_hex(16)


class FilterManager:
    def __init__(self, backend: Backend, limits: RpcLimits | None = None) -> None:
        self.backend = backend
        self.limits = limits or RpcLimits()
        self.filters: dict[str, PollFilter] = {}
        self._per_owner: Counter[str] = Counter()
        backend.on_block(self._on_block)
        backend.on_transaction(self._on_transaction)

    def install(self, kind: str, criteria: LogCriteria | None = None, owner: str = "") -> str:
        """A new filter's id; -32005 when the node or ``owner`` holds as many as allowed."""
        self._expire()
        limits = self.limits
        if self._per_owner[owner] >= limits.filters_per_client:
            raise limit_exceeded(f"this client already holds {limits.filters_per_client} filters",
                                 "filters_per_client")
        if len(self.filters) >= limits.max_filters:
            raise limit_exceeded(f"the node already holds {limits.max_filters} filters", "max_filters")
        filter_id = new_id()
        self.filters[filter_id] = PollFilter(kind, criteria, owner)
        self._per_owner[owner] += 1
        return filter_id

    def uninstall(self, filter_id: str) -> bool:
        removed = self.filters.pop(filter_id, None)
        if removed is None:
            return False
        self._per_owner[removed.owner] -= 1
        if not self._per_owner[removed.owner]:
            del self._per_owner[removed.owner]
        return True

    def drop_owner(self, owner: str) -> None:
        """Remove the filters of a client that has gone (a closed WebSocket)."""
        for filter_id in [k for k, f in self.filters.items() if f.owner == owner]:
            self.uninstall(filter_id)

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
        deadline = time.monotonic() - self.limits.filter_timeout_seconds
        for filter_id in [k for k, f in self.filters.items() if f.last_poll < deadline]:
            self.uninstall(filter_id)

    def _on_block(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        entries = None
        for poll_filter in self.filters.values():
            if len(poll_filter.changes) >= self.limits.filter_max_changes:
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
            if poll_filter.kind == "pending" and len(poll_filter.changes) < self.limits.filter_max_changes:
                poll_filter.changes.append(hexb(tx_hash))


@dataclass(slots=True)
class Subscription:
    kind: str
    criteria: LogFilter | None
    send: Callable[[str], bool]
    """Queues a notification's JSON text; returns False when the subscriber cannot keep up.
    One ``send`` is one WebSocket connection."""
    full: bool = False
    """newPendingTransactions: send whole transactions rather than hashes."""


class SubscriptionManager:
    def __init__(self, backend: Backend, limits: RpcLimits | None = None) -> None:
        self.backend = backend
        self.limits = limits or RpcLimits()
        self.subscriptions: dict[str, Subscription] = {}
        self._per_connection: Counter[Callable[[str], bool]] = Counter()
        backend.on_block(self._on_block)
        backend.on_transaction(self._on_transaction)

    def subscribe(self, subscription: Subscription) -> str:
        """A new subscription's id; -32005 when the node or the connection holds as many as allowed."""
        limits = self.limits
        if self._per_connection[subscription.send] >= limits.subscriptions_per_connection:
            raise limit_exceeded(f"this connection already holds {limits.subscriptions_per_connection} "
                                 "subscriptions", "subscriptions_per_connection")
        if len(self.subscriptions) >= limits.max_subscriptions:
            raise limit_exceeded(f"the node already holds {limits.max_subscriptions} subscriptions",
                                 "max_subscriptions")
        subscription_id = new_id()
        self.subscriptions[subscription_id] = subscription
        self._per_connection[subscription.send] += 1
        return subscription_id

    def unsubscribe(self, subscription_id: str) -> bool:
        removed = self.subscriptions.pop(subscription_id, None)
        if removed is None:
            return False
        self._per_connection[removed.send] -= 1
        if not self._per_connection[removed.send]:
            del self._per_connection[removed.send]
        return True

    def drop_connection(self, send: Callable[[str], bool]) -> None:
        for subscription_id in [k for k, s in self.subscriptions.items() if s.send is send]:
            self.unsubscribe(subscription_id)

    def _notify(self, subscription_id: str, subscription: Subscription, result_json: str) -> None:
        message = ('{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"'
                   + subscription_id + '","result":' + result_json + "}}")
        if not subscription.send(message):
            self.unsubscribe(subscription_id)

    def _on_block(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> None:
        head_json: str | None = None
        entries = None
        entry_json: dict[int, str] = {}
        for subscription_id, subscription in list(self.subscriptions.items()):
            if subscription.kind == "newHeads":
                if head_json is None:
                    head_json = json.dumps(header_json(block.header))
                self._notify(subscription_id, subscription, head_json)
            elif subscription.kind == "logs" and subscription.criteria is not None:
                if entries is None:
                    entries = logs_of_block(block.header, receipts, block.transactions)
                for index, entry in enumerate(entries):
                    if matches(subscription.criteria, entry):
                        if index not in entry_json:
                            entry_json[index] = json.dumps(log_json(entry))
                        self._notify(subscription_id, subscription, entry_json[index])

    def _admitted(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        """A transaction just admitted: in the pool, or already in a block (a dev chain mines at once)."""
        pending = self.backend.mempool.get(tx_hash)
        if pending is not None:
            return pending
        location = self.backend.store.transaction_location(tx_hash)
        if location is None:
            return None
        header = self.backend.store.header_by_number(location[0])
        return None if header is None else self.backend.store.block(header).transactions[location[1]]

    def _on_transaction(self, tx_hash: bytes) -> None:
        hash_json = None
        full_json = None
        for subscription_id, subscription in list(self.subscriptions.items()):
            if subscription.kind != "newPendingTransactions":
                continue
            if subscription.full:
                if full_json is None:
                    transaction = self._admitted(tx_hash)
                    if transaction is None:  # replaced or dropped already
                        continue
                    full_json = json.dumps(transaction_json(transaction, None, None))
                self._notify(subscription_id, subscription, full_json)
            else:
                if hash_json is None:
                    hash_json = json.dumps(hexb(tx_hash))
                self._notify(subscription_id, subscription, hash_json)
