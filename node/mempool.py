"""The mempool: admitted transactions waiting for a block.

Admission rules (checked in this order, each failure a :class:`Rejected` with
geth's wording so that client libraries recognise it):

1. size at most ``max_transaction_bytes``;
2. replay protection: the chain id must be this chain's (legacy transactions
   need EIP-155);
3. a valid signature (sender recovered with coincurve) with a low s. EIP-2
   refuses s above secp256k1n/2 for every transaction in geth; py-evm 0.12
   refuses it only for legacy transactions, at execution. Without the rule,
   anyone who saw a pending transaction could submit its high-s twin (same
   sender, nonce and fees, another hash), which replaces it at zero fees, so
   the client's hash would never be mined;
4. gas at least the intrinsic gas and at most the block gas limit;
5. nonce: not below the sender's next nonce; no gaps (Settle does not queue
   future transactions, so a gap is answered at once instead of waiting forever);
   the same nonce replaces the pending transaction if its fees are at least 10%
   higher (or both are zero, the usual case on a zero-fee chain);
6. the sender can pay ``gas * max fee + value`` (on a zero-fee chain, ``value``:
   an empty account may send, it just cannot send value);
7. pool limits: ``max_per_sender`` per sender, ``max_transactions`` in all.

When the pool is full, price cannot decide who stays (gas is free), so eviction
ranks senders instead, as geth's txpool does with ``AccountSlots`` above its
price rule. A new transaction from sender S evicts the newest transaction (the
highest nonce, so no gap opens) of another sender V when

* S holds a positive balance and V none: an empty key costs nothing to make, so
  10,000 of them must not lock out every funded account (issue 22); or
* both are of the same kind, S holds fewer than ``account_slots`` transactions
  (its guaranteed share) and V more: one sender cannot crowd out the others.

V is the lowest-ranked sender: empty before funded, then the one holding the
most, then the one that arrived last. Otherwise the pool answers "txpool is
full". Settle does not queue gapped transactions, so geth's ``AccountQueue``
and ``GlobalQueue`` have no counterpart.

Block building takes transactions in arrival order, each sender's in nonce order.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from eth.abc import SignedTransactionAPI

from vm.senders import SECP256K1_N, checked_sender


class Rejected(Exception):
    """A transaction refused admission; the message is shown to the client."""


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    """Bounds of the pool, each a ``[mempool]`` config key of the same name."""

    max_transactions: int = 10_000
    """Pending transactions in all (geth's GlobalSlots)."""
    max_per_sender: int = 1_000
    """Pending transactions from one sender, whatever the pool holds."""
    max_transaction_bytes: int = 128 * 1024
    """Encoded size of one transaction."""
    account_slots: int = 16
    """Transactions each sender is guaranteed when the pool is full (geth's AccountSlots): a sender
    holding fewer may evict from one of its kind holding more."""


@dataclass(frozen=True, slots=True)
class AccountView:
    nonce: int
    """The sender's next nonce in the head state."""
    balance: int
    """The sender's balance in the head state."""


@dataclass(slots=True)
class _Entry:
    transaction: SignedTransactionAPI
    sequence: int


@dataclass(slots=True)
class Mempool:
    """Pending transactions by sender and nonce. Owned by the node's chain service."""

    chain_id: int
    block_gas_limit: int
    limits: MempoolLimits = field(default_factory=MempoolLimits)
    _by_sender: dict[bytes, dict[int, _Entry]] = field(default_factory=dict)
    _by_hash: dict[bytes, SignedTransactionAPI] = field(default_factory=dict)
    _cost_by_sender: dict[bytes, int] = field(default_factory=dict)
    """Sum of ``gas * max fee + value`` over each sender's pending transactions."""
    _funded: dict[bytes, bool] = field(default_factory=dict)
    """Whether each sender held a positive balance when its latest transaction was admitted."""
    _ranks: dict[bool, dict[int, dict[bytes, None]]] = field(
        default_factory=lambda: {False: {}, True: {}})
    """funded -> pending count -> senders in the order they reached it: eviction's index."""
    _sequence: itertools.count = field(default_factory=itertools.count)
    evicted: int = 0
    """Transactions evicted to make room since start (a metric)."""

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        return self._by_hash.get(tx_hash)

    def pending_nonce(self, sender: bytes, state_nonce: int) -> int:
        nonces = self._by_sender.get(sender)
        return max(nonces) + 1 if nonces else state_nonce

    def add(
        self,
        transaction: SignedTransactionAPI,
        encoded_size: int,
        account_of: Callable[[bytes], AccountView],
    ) -> bytes:
        """Admit ``transaction`` or raise :class:`Rejected`; returns its hash."""
        if encoded_size > self.limits.max_transaction_bytes:
            raise Rejected(
                f"oversized data: transaction size {encoded_size}, limit {self.limits.max_transaction_bytes} "
                "([mempool] max_transaction_bytes)"
            )
        tx_chain_id = getattr(transaction, "chain_id", None)
        if tx_chain_id is None:
            raise Rejected("only replay-protected (EIP-155) transactions allowed over RPC")
        if tx_chain_id != self.chain_id:
            raise Rejected(f"invalid chain id for signer: have {tx_chain_id} want {self.chain_id}")
        try:
            sender = checked_sender(transaction)
        except Exception as exc:  # py-evm raises ValidationError, coincurve plain Exceptions
            raise Rejected(f"invalid sender: {exc or 'bad signature'}") from exc
        if transaction.s > SECP256K1_N // 2:
            raise Rejected("invalid transaction v, r, s values: s above secp256k1n/2 (EIP-2)")
        tx_hash = transaction.hash
        if tx_hash in self._by_hash:
            raise Rejected("already known")
        intrinsic = transaction.intrinsic_gas
        if transaction.gas < intrinsic:
            raise Rejected(f"intrinsic gas too low: gas {transaction.gas}, minimum needed {intrinsic}")
        if transaction.gas > self.block_gas_limit:
            raise Rejected(f"exceeds block gas limit: gas {transaction.gas}, limit {self.block_gas_limit}")

        account = account_of(sender)
        nonce = transaction.nonce
        if nonce < account.nonce:
            raise Rejected(f"nonce too low: next nonce {account.nonce}, tx nonce {nonce}")
        pending = self._by_sender.get(sender, {})
        next_nonce = self.pending_nonce(sender, account.nonce)
        replaced = pending.get(nonce)
        if replaced is None and nonce > next_nonce:
            raise Rejected(
                f"nonce too high: next nonce {next_nonce}, tx nonce {nonce} "
                "(Settle does not queue gapped transactions)"
            )
        if replaced is not None and not _outbids(transaction, replaced.transaction):
            raise Rejected("replacement transaction underpriced")

        cost = _cost(transaction)
        committed_elsewhere = self._cost_by_sender.get(sender, 0) - (
            _cost(replaced.transaction) if replaced is not None else 0
        )
        if account.balance < cost + committed_elsewhere:
            raise Rejected(
                f"insufficient funds for gas * price + value: address 0x{sender.hex()} "
                f"have {account.balance} want {cost + committed_elsewhere}"
            )
        funded = account.balance > 0
        if replaced is None:
            if len(pending) >= self.limits.max_per_sender:
                raise Rejected(
                    f"too many pending transactions from 0x{sender.hex()}: {len(pending)} "
                    "(limit [mempool] max_per_sender)"
                )
            if len(self._by_hash) >= self.limits.max_transactions:
                self._evict_for(sender, funded, len(pending))
            sequence = next(self._sequence)
        else:
            del self._by_hash[replaced.transaction.hash]
            sequence = replaced.sequence
        count_before = len(pending)
        self._by_sender.setdefault(sender, {})[nonce] = _Entry(transaction, sequence)
        self._by_hash[tx_hash] = transaction
        self._cost_by_sender[sender] = committed_elsewhere + cost
        self._rerank(sender, count_before, funded)
        return tx_hash

    def _rerank(self, sender: bytes, count_before: int, funded: bool | None = None) -> None:
        """Move ``sender`` to its bucket after its count (or kind, when ``funded`` is given) changed."""
        was_funded = self._funded.get(sender)
        if was_funded is not None and count_before:
            bucket = self._ranks[was_funded][count_before]
            bucket.pop(sender, None)
            if not bucket:
                del self._ranks[was_funded][count_before]
        count = len(self._by_sender.get(sender, ()))
        if not count:
            self._funded.pop(sender, None)
            return
        kind = was_funded if funded is None else funded
        assert kind is not None
        self._funded[sender] = kind
        self._ranks[kind].setdefault(count, {})[sender] = None

    def _evict_for(self, sender: bytes, funded: bool, holding: int) -> None:
        """Make room for one transaction of ``sender`` in a full pool, or raise "txpool is full"."""
        victim = None
        lowest = self._lowest_ranked(exclude=sender)
        if lowest is not None:
            kind, count, candidate = lowest
            if funded and not kind:
                victim = candidate
            elif kind == funded and holding < self.limits.account_slots < count:
                victim = candidate
        if victim is None:
            raise Rejected(
                f"txpool is full: {len(self._by_hash)} transactions (limit [mempool] max_transactions), and this "
                f"sender ({'funded' if funded else 'empty account'}, {holding} pending) outranks none of them "
                f"([mempool] account_slots = {self.limits.account_slots})"
            )
        nonces = self._by_sender[victim]
        newest = nonces[max(nonces)].transaction
        self.remove([newest])
        self.evicted += 1

    def _lowest_ranked(self, exclude: bytes) -> tuple[bool, int, bytes] | None:
        """(funded, count, sender) of the sender eviction takes from first, ``exclude`` aside."""
        for kind in (False, True):
            counts = self._ranks[kind]
            for count in sorted(counts, reverse=True):
                for candidate in reversed(counts[count]):  # the last to reach that count first
                    if candidate != exclude:
                        return kind, count, candidate
        return None

    def candidates(self) -> list[SignedTransactionAPI]:
        """Every pending transaction, in arrival order with each sender's nonces ascending."""
        # Each transaction sorts by the latest arrival among its sender's lower nonces,
        # so a sender's transactions keep nonce order while senders interleave by arrival.
        keyed = []
        for nonces in self._by_sender.values():
            arrival = -1
            for nonce, entry in sorted(nonces.items()):
                arrival = max(arrival, entry.sequence)
                keyed.append((arrival, nonce, entry.transaction))
        keyed.sort(key=lambda item: item[:2])
        return [transaction for _, _, transaction in keyed]

    def remove(self, transactions: Iterable[SignedTransactionAPI]) -> None:
        for transaction in transactions:
            known = self._by_hash.pop(transaction.hash, None)
            if known is None:
                continue
            sender = transaction.sender
            nonces = self._by_sender.get(sender)
            if nonces is not None:
                count_before = len(nonces)
                nonces.pop(transaction.nonce, None)
                self._cost_by_sender[sender] -= _cost(transaction)
                if not nonces:
                    del self._by_sender[sender]
                    del self._cost_by_sender[sender]
                self._rerank(sender, count_before)

    def prune(self, account_of: Callable[[bytes], AccountView]) -> list[SignedTransactionAPI]:
        """Drop transactions whose nonce the head state has passed; return them."""
        stale = [
            entry.transaction
            for sender, nonces in self._by_sender.items()
            for nonce, entry in nonces.items()
            if nonce < account_of(sender).nonce
        ]
        self.remove(stale)
        return stale


def _cost(transaction: SignedTransactionAPI) -> int:
    """The most a transaction can take from its sender's balance."""
    return transaction.gas * transaction.max_fee_per_gas + transaction.value


def _outbids(new: SignedTransactionAPI, old: SignedTransactionAPI) -> bool:
    """geth's 10% price bump, which zero-fee replacements meet trivially."""
    return (
        new.max_fee_per_gas * 100 >= old.max_fee_per_gas * 110
        and new.max_priority_fee_per_gas * 100 >= old.max_priority_fee_per_gas * 110
    )
