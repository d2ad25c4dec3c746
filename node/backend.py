"""The chain backend: the one object JSON-RPC and the consensus engine talk to,
as geth's ``ethapi.Backend``.

It owns the chain store and the mempool, and it is used from a single trio
thread: admissions, block production and the cheap reads never run
concurrently, so they need no locks and never observe a block half-written.

The expensive reads -- :meth:`Backend.call`, :meth:`Backend.estimate_gas` and
:meth:`Backend.get_logs` -- are the exception: JSON-RPC runs them on worker
threads (:mod:`node.rpc.workers`) so that consensus never waits on them. They
read only immutable data (the state under a committed header's root, committed
blocks) through their own chain objects and overlays, never the head state the
trio thread shares, and they stop at a wall-clock deadline.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import rlp
import structlog
from eth._utils.address import generate_contract_address
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.exceptions import Revert, UnrecognizedTransactionType
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_typing import Address, BlockNumber
from eth_utils import ValidationError

from node.call_overrides import NO_OVERRIDES, AccountOverride, CallOverrides, apply_account_overrides, overridden_header
from node.mempool import AccountView, Mempool, MempoolLimits, Rejected
from node.store import ChainStore
from vm.block_builder import ExcludedTransaction, build_block
from vm.block_import import BlockRejected, decode_block_reusing, execute_block
from vm.deadline import ExecutionTimeout, set_deadline
from vm.deadline import clock as deadline_clock
from vm.leveldb import WriteOverlay
from vm.permissions import refusal as permission_refusal
from vm.senders import prefill_sender

log = structlog.get_logger("settle.chain")


class BackendError(Exception):
    """Root of backend errors surfaced to RPC callers."""


class InvalidTransaction(BackendError):
    """Undecodable or inadmissible transaction; the message says why."""


class ExecutionReverted(BackendError):
    """A call reverted; ``data`` is the revert payload (for error code 3)."""

    def __init__(self, reason: str | None, data: bytes) -> None:
        message = "execution reverted" + (f": {reason}" if reason else "")
        super().__init__(message)
        self.data = data


class InvalidBlock(BackendError):
    """A block that does not extend the head, or whose execution disagrees with its header."""


class ExecutionFailed(BackendError):
    """A call failed without reverting (out of gas, invalid opcode, ...)."""


class ExecutionTimedOut(BackendError):
    """A call ran past the RPC execution time limit (geth's ``RPCEVMTimeout``) and was abandoned."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"execution aborted (timeout = {timeout_seconds:g}s)")
        self.timeout_seconds = timeout_seconds


class SimulationError(BackendError):
    """An ``eth_simulateV1`` request the node cannot carry out as asked (block order, gas budget)."""


class QueryTimedOut(BackendError):
    """A log query ran past the RPC time limit and was abandoned."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"query timeout exceeded ({timeout_seconds:g}s): narrow the block range or filter by "
                         "address (limit [rpc] evm_timeout_ms)")
        self.timeout_seconds = timeout_seconds


@dataclass(frozen=True, slots=True)
class CallRequest:
    sender: bytes
    """``from``; the zero address when absent."""
    to: bytes | None
    """``None`` for contract creation."""
    gas: int | None
    value: int
    data: bytes
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...] = ()
    """EIP-2930 access list: the call then runs as a type-1 transaction (its gas counts the list)."""


@dataclass(frozen=True, slots=True)
class CallResult:
    """One simulated execution: what ``eth_call`` returns, and what ``eth_createAccessList`` and
    ``eth_simulateV1`` report besides."""

    output: bytes
    gas_used: int
    """Gas the transaction would use, intrinsic gas included and refunds deducted."""
    error: BackendError | None
    """:class:`ExecutionReverted` or :class:`ExecutionFailed`; None on success."""
    logs: tuple[tuple[bytes, tuple[bytes, ...], bytes], ...]
    """(address, topics, data) of each log, in order (empty if the call failed)."""
    accessed: tuple[tuple[bytes, tuple[int, ...]], ...]
    """Addresses and storage slots the execution touched (EIP-2929 warm set), in first-touch order."""


@dataclass(frozen=True, slots=True)
class SimulatedBlock:
    """One block of an ``eth_simulateV1`` request: its header as executed, and its calls' results."""

    header: BlockHeaderAPI
    calls: tuple[tuple[bytes, CallResult], ...]
    """(transaction hash, result) per call."""


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    """One block of ``eth_simulateV1``: overrides applied before its calls, and the calls."""

    overrides: CallOverrides
    calls: tuple[CallRequest, ...]


@dataclass(frozen=True, slots=True)
class DevSnapshot:
    """A dev chain's state at an ``evm_snapshot``: its head, its pool, its clock."""

    head: BlockHeaderAPI
    pending: tuple[bytes, ...]
    """The pool's raw transactions, re-admitted on revert."""
    time_offset: int
    next_timestamp: int | None


@dataclass(frozen=True, slots=True)
class LogFilter:
    from_block: int
    to_block: int
    addresses: tuple[bytes, ...]
    """Empty matches any address."""
    topics: tuple[tuple[bytes, ...] | None, ...]
    """Per position: ``None`` matches anything, else any of the listed topics."""


ACCESS_LIST_ROUNDS = 8
"""Most re-runs of eth_createAccessList until its list stops changing (one deadline covers them all)."""
SIMULATED_BLOCK_SECONDS = 12
"""Seconds between simulated blocks unless overridden (geth's eth_simulateV1 default)."""

RECENT_BLOCKS = 64
"""Committed blocks kept decoded for receipt and log queries, unless configured (``[storage] recent_blocks``)."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    transaction_index: int
    log_index: int
    """Position of the log within its block."""


@dataclass(frozen=True, slots=True)
class PendingBlock:
    """A block executed on top of the head whose writes still wait in an overlay.

    Consensus executes a block when it is proposed and commits it only once a
    quorum has sealed it; until then nothing of it is on disk.
    """

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    overlay: WriteOverlay
    excluded: tuple[ExcludedTransaction, ...] = ()
    """Transactions the builder left out as invalid (only for blocks built here)."""
    execution_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    logs: tuple[LogEntry, ...]
    """Every log of the block, in order."""


def decode_revert_reason(data: bytes) -> str | None:
    """The ``Error(string)`` message of revert data, if it is one."""
    if len(data) >= 4 and data[:4] == bytes.fromhex("08c379a0"):
        try:
            from eth_abi import decode

            return decode(["string"], data[4:])[0]
        except Exception:
            return None
    if len(data) >= 4 and data[:4] == bytes.fromhex("4e487b71") and len(data) == 36:
        return f"panic: 0x{int.from_bytes(data[4:], 'big'):02x}"
    return None


class Backend:
    """Chain queries, transaction admission and block production for one node."""

    def __init__(
        self,
        store: ChainStore,
        *,
        coinbase: bytes,
        mempool_limits: MempoolLimits = MempoolLimits(),
        gas_cap: int = 50_000_000,
        evm_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        recent_blocks: int = RECENT_BLOCKS,
    ) -> None:
        self.store = store
        self.chain_id = store.genesis.chain_id
        self.coinbase = coinbase
        self.gas_cap = gas_cap
        self.evm_timeout = evm_timeout
        """Seconds an ``eth_call``, an ``eth_estimateGas`` or a log query may run (geth's RPCEVMTimeout)."""
        self.transaction_gas_cap = store.genesis.transaction_gas_cap
        """Gas limit one transaction may have (a consensus rule from genesis)."""
        self.clock = clock
        self.time_offset = 0
        """Seconds added to wall-clock time for new block timestamps (dev mode only)."""
        self._dev_state_edits: dict[bytes, AccountOverride] = {}
        """Dev mode's hardhat_set* edits, written into the next block built here."""
        self.next_timestamp: int | None = None
        """The exact timestamp of the next block (dev mode's ``evm_setNextBlockTimestamp``); then cleared."""
        self.mempool = Mempool(
            chain_id=self.chain_id,
            block_gas_limit=store.genesis.gas_limit,
            limits=mempool_limits,
        )
        self._block_listeners: list[Callable[[BlockAPI, tuple[ReceiptAPI, ...]], None]] = []
        self._tx_listeners: list[Callable[[bytes], None]] = []
        self._local_tx_listeners: list[Callable[[bytes], None]] = []
        self._vm_class = store.chain_class.get_vm_class_for_block_number(BlockNumber(0))
        self._head_state: Any = None
        """Read-only state after the head block; rebuilt lazily after each commit."""
        self._recent_blocks: OrderedDict[bytes, CommittedBlock] = OrderedDict()
        """Decoded recent blocks: receipt polling reads the same few blocks over and over."""
        self._recent_blocks_kept = recent_blocks
        self._recent_blocks_lock = threading.Lock()
        """Log queries run on worker threads and share the cache with the trio thread."""
        self._last_committed: tuple[BlockAPI, tuple[ReceiptAPI, ...]] | None = None
        """The block committed last and its receipts, still decoded: clients poll receipts of the newest
        block first. Not its ``PendingBlock``, whose overlay holds every write of the block."""
        self._consensus_idle = threading.Event()
        """Clear while this node executes a block: RPC workers then wait at their next deadline check."""
        self._consensus_idle.set()

    # -- listeners -------------------------------------------------------------
    def on_block(self, listener: Callable[[BlockAPI, tuple[ReceiptAPI, ...]], None]) -> None:
        self._block_listeners.append(listener)

    def on_transaction(self, listener: Callable[[bytes], None]) -> None:
        """Called with the hash of every admitted transaction."""
        self._tx_listeners.append(listener)

    def on_local_transaction(self, listener: Callable[[bytes], None]) -> None:
        """Called with the raw bytes of transactions submitted here (not gossiped in)."""
        self._local_tx_listeners.append(listener)

    # -- state -----------------------------------------------------------------
    @property
    def block_class(self) -> type[BlockAPI]:
        """The block class blocks from peers decode to."""
        return self._vm_class.get_block_class()

    @property
    def head(self) -> BlockHeaderAPI:
        return self.store.head

    def block_number(self, ref: int | str) -> int:
        """A block number, or a tag (``earliest``; ``latest`` and the rest mean the head)."""
        if ref == "earliest":
            return 0
        if isinstance(ref, str):
            return self.head.block_number
        return ref

    def state_at(self, header: BlockHeaderAPI):
        """The world state after ``header``, for reading only.

        The head's state is built once per commit and shared; its caches are what
        make admissions and ``latest`` reads cheap.
        """
        head = self.head
        if header.hash != head.hash:
            _, chain = self.store.overlay_chain()
            return chain.get_vm(header).state
        if self._head_state is None:
            _, chain = self.store.overlay_chain()
            self._head_state = chain.get_vm(head).state
        return self._head_state

    def next_block_time(self) -> int:
        """The timestamp the next block built here gets (dev mode may set or shift it)."""
        if self.next_timestamp is not None:
            return self.next_timestamp
        return int(self.clock()) + self.time_offset

    def account_view(self, sender: bytes) -> AccountView:
        state = self.state_at(self.head)
        return AccountView(nonce=state.get_nonce(sender), balance=state.get_balance(sender))

    def pending_nonce(self, address: bytes) -> int:
        return self.mempool.pending_nonce(address, self.state_at(self.head).get_nonce(address))

    # -- transactions ----------------------------------------------------------
    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        if not raw:
            raise InvalidTransaction("empty transaction data")
        try:
            transaction = self._vm_class.get_transaction_builder().decode(raw)
        except (rlp.DecodingError, rlp.DeserializationError) as exc:
            raise InvalidTransaction(f"transaction could not be decoded: {_first_line(exc)}") from exc
        except RecursionError:  # lists nested past the interpreter's recursion limit (node/recursion.py)
            raise InvalidTransaction("transaction could not be decoded: lists nested too deeply") from None
        except UnrecognizedTransactionType as exc:
            raise InvalidTransaction(f"transaction type not supported: 0x{raw[0]:02x}") from exc
        except (ValidationError, ValueError, TypeError, IndexError) as exc:
            raise InvalidTransaction(f"transaction could not be decoded: {_first_line(exc)}") from exc
        prefill_sender(transaction)
        return transaction

    def send_raw_transaction(self, raw: bytes, *, local: bool = True) -> bytes:
        """Admit a transaction to the mempool; ``local`` is false for gossip from peers.

        A transaction the mempool already holds is answered "already known" from
        the hash of its bytes (what geth checks first too), before it is decoded
        or its sender recovered again: the same transaction reaches a validator
        from several peers and from clients that submit to every node.
        """
        if raw and self.mempool.get(keccak(raw)) is not None:
            raise InvalidTransaction("already known")
        transaction = self.decode_transaction(raw)
        # Above the block gas limit the mempool's own message says more.
        if self.transaction_gas_cap < transaction.gas <= self.store.genesis.gas_limit:
            raise InvalidTransaction(
                f"transaction gas limit too high (cap: {self.transaction_gas_cap}, tx: {transaction.gas})"
            )
        self._check_permissions(transaction)
        try:
            tx_hash = self.mempool.add(transaction, len(raw), self.account_view)
        except Rejected as exc:
            raise InvalidTransaction(str(exc)) from exc
        log.debug("transaction admitted", hash="0x" + tx_hash.hex(), pending=len(self.mempool), local=local)
        if local:
            for local_listener in self._local_tx_listeners:
                local_listener(raw)
        for listener in self._tx_listeners:
            listener(tx_hash)
        return tx_hash

    def send_raw_transactions(self, raws: Iterable[bytes], *, local: bool = False) -> list[bytes | InvalidTransaction]:
        """Admit a batch (a peer's frame of gossiped transactions) in one call: per transaction, its hash or why not.

        One refusal does not stop the batch; the caller logs each. The work per
        transaction is :meth:`send_raw_transaction`'s (decode, one sender
        recovery, the admission rules): a batch saves the per-message costs of
        whoever delivers it, not checks.
        """
        results: list[bytes | InvalidTransaction] = []
        for raw in raws:
            try:
                results.append(self.send_raw_transaction(raw, local=local))
            except InvalidTransaction as exc:
                results.append(exc)
        return results

    # -- blocks ----------------------------------------------------------------
    def _check_permissions(self, transaction: SignedTransactionAPI) -> None:
        """Refuse at once what the VM's permission rules (vm/permissions.py) would make invalid in a block.

        Checked against the head state's registry; a sender that cannot be recovered is left to the
        mempool, whose message says why.
        """
        try:
            sender = transaction.sender
        except Exception:  # py-evm raises ValidationError, coincurve plain Exceptions
            return
        refused = permission_refusal(
            self.state_at(self.head), self.store.genesis.permissions.registry_address, sender, not transaction.to
        )
        if refused is not None:
            raise InvalidTransaction(refused)

    def build_block(self, *, allow_empty: bool = False, budget_ms: float | None = None) -> PendingBlock | None:
        """Execute a new block from the mempool on top of the head, without committing it.

        Returns None when there is nothing to include and ``allow_empty`` is false.
        With ``budget_ms``, transactions stop being added once building has taken
        that long; the rest wait for the next block.
        """
        candidates = self.mempool.candidates()
        edits, self._dev_state_edits = self._dev_state_edits, {}
        if not candidates and not allow_empty and not edits:
            return None
        overlay, chain = self.store.overlay_chain()
        started = time.perf_counter()
        with self._executing_block():
            built = build_block(
                chain,
                self.head,
                candidates,
                timestamp=self.next_block_time(),
                coinbase=self.coinbase,
                deadline=None if budget_ms is None else started + budget_ms / 1000,
                prepare_state=(lambda state: apply_account_overrides(state, edits)) if edits else None,
            )
        for heavy in built.too_heavy:
            log.warning("transaction too heavy for a block", hash="0x" + heavy.transaction.hash.hex(),
                        reason=heavy.reason)
        return PendingBlock(built.block, built.receipts, overlay, built.excluded,
                            (time.perf_counter() - started) * 1000)

    def decode_block(self, raw: bytes) -> BlockAPI:
        """Decode a block from a peer; transactions this node's mempool holds are taken from it, not decoded.

        Those arrive decoded and with the sender their admission recovered and
        checked, so importing a proposal of gossiped transactions decodes and
        recovers nothing again (:func:`vm.block_import.decode_block_reusing`).
        Transactions the mempool lacks are decoded here and their senders
        recovered and checked at execution.
        """
        try:
            return decode_block_reusing(raw, self._vm_class.get_block_class(), self.mempool.get)
        except (rlp.DecodingError, rlp.DeserializationError, ValidationError, ValueError, TypeError) as exc:
            raise InvalidBlock(f"block could not be decoded: {_first_line(exc)}") from exc
        except RecursionError:  # lists nested past the interpreter's recursion limit (node/recursion.py)
            raise InvalidBlock("block could not be decoded: lists nested too deeply") from None

    def execute_block(self, block: BlockAPI) -> PendingBlock:
        """Re-execute a block someone else built on top of the head and check every root.

        Raises :class:`InvalidBlock` with the reason when it does not extend the
        head or when its header disagrees with the execution (state root,
        receipts, gas, PREVRANDAO, timestamp...).
        """
        head = self.head
        if block.header.parent_hash != head.hash or block.number != head.block_number + 1:
            raise InvalidBlock(
                f"block {block.number} (parent 0x{block.header.parent_hash.hex()}) does not extend "
                f"the head {head.block_number} (0x{head.hash.hex()})"
            )
        overlay, chain = self.store.overlay_chain()
        started = time.perf_counter()
        try:
            with self._executing_block():
                executed = execute_block(chain, head, block)
        except (BlockRejected, ValidationError, ValueError, rlp.DecodingError, rlp.DeserializationError) as exc:
            # py-evm lists mismatching fields on the lines after the first.
            raise InvalidBlock(" ".join(str(exc).split())[:600]) from exc
        return PendingBlock(executed.block, executed.receipts, overlay, (), (time.perf_counter() - started) * 1000)

    def commit_block(self, pending: PendingBlock, certificate: bytes | None = None) -> None:
        """Write an executed block (and its commit certificate) and announce it."""
        block = pending.block
        if block.header.parent_hash != self.head.hash:
            raise InvalidBlock(f"block {block.number} no longer extends the head {self.head.block_number}")
        self.store.commit(pending.overlay, block, pending.receipts, certificate)
        self._last_committed = (block, pending.receipts)
        self._head_state = None
        if self.next_timestamp is not None and block.header.timestamp == self.next_timestamp:
            # Later blocks go on from the timestamp set, as in Hardhat.
            self.time_offset = self.next_timestamp - int(self.clock())
            self.next_timestamp = None
        self.mempool.remove(block.transactions)
        self.mempool.remove(excluded.transaction for excluded in pending.excluded)
        for excluded in pending.excluded:
            log.info("transaction dropped", hash="0x" + excluded.transaction.hash.hex(), reason=excluded.reason)
        self.mempool.prune(self.account_view)
        log.info(
            "block committed",
            number=block.number,
            hash="0x" + block.hash.hex(),
            txs=len(block.transactions),
            gas_used=block.header.gas_used,
            execution_ms=round(pending.execution_ms, 1),
        )
        for listener in self._block_listeners:
            listener(block, pending.receipts)

    def produce_block(self, *, allow_empty: bool = False) -> PendingBlock | None:
        """Build and commit a block at once, with no consensus (tests and tools)."""
        pending = self.build_block(allow_empty=allow_empty)
        if pending is not None:
            self.commit_block(pending)
        return pending

    # -- dev chains ---------------------------------------------------------------
    def edit_state(self, accounts: dict[bytes, AccountOverride]) -> None:
        """Dev mode (``hardhat_setBalance`` and the like): write these into the next block built here.

        The edits are state changes no transaction made, so such a block is
        valid only on this single-validator dev chain; they never happen on a
        network (the namespace is served by ``settle node dev`` only).
        """
        for address, edit in accounts.items():
            earlier = self._dev_state_edits.get(address)
            if earlier is not None:
                edit = AccountOverride(
                    balance=edit.balance if edit.balance is not None else earlier.balance,
                    nonce=edit.nonce if edit.nonce is not None else earlier.nonce,
                    code=edit.code if edit.code is not None else earlier.code,
                    state=edit.state if edit.state is not None else earlier.state,
                    state_diff={**(earlier.state_diff or {}), **(edit.state_diff or {})} or None,
                )
            self._dev_state_edits[address] = edit

    def snapshot(self) -> DevSnapshot:
        """Dev mode (``evm_snapshot``): what :meth:`revert_to` needs to return to this moment."""
        return DevSnapshot(self.head, tuple(tx.encode() for tx in self.mempool.candidates()), self.time_offset,
                           self.next_timestamp)

    def revert_to(self, snapshot: DevSnapshot) -> list[BlockAPI]:
        """Dev mode (``evm_revert``): the chain and the pool as they were at ``snapshot``; returns the blocks dropped.

        The store moves its head back in one synced batch (:meth:`ChainStore.rewind_to`);
        the pool is emptied here, and the caller re-admits ``snapshot.pending``
        once consensus has restarted at the new height.
        """
        dropped = self.store.rewind_to(snapshot.head)
        self._head_state = None
        with self._recent_blocks_lock:
            self._recent_blocks.clear()
        self._last_committed = None
        self.mempool.remove(self.mempool.candidates())
        self._dev_state_edits = {}
        self.time_offset = snapshot.time_offset
        self.next_timestamp = snapshot.next_timestamp
        log.info("dev chain reverted", head=snapshot.head.block_number, dropped_blocks=len(dropped))
        return dropped

    @contextmanager
    def _executing_block(self) -> Iterator[None]:
        """RPC workers step aside while the block runs (they share the interpreter lock with it)."""
        self._consensus_idle.clear()
        try:
            yield
        finally:
            self._consensus_idle.set()

    def _worker_clock(self, deadline: float) -> Callable[[], float]:
        """The clock an RPC execution reads its deadline on: it first waits while a block executes.

        A worker thread competes with the trio thread for the interpreter lock;
        waiting here hands it over until the block is done (or the deadline is).
        """
        idle = self._consensus_idle

        def read() -> float:
            if not idle.is_set():
                idle.wait(max(0.0, deadline - deadline_clock()))
            return deadline_clock()

        return read

    # -- calls -----------------------------------------------------------------
    # Calls, estimates, access lists and simulations are safe to run on a worker
    # thread: each reads the state through its own chain object and overlay, never
    # the head state the trio thread shares, and stops at ``deadline`` (a
    # :func:`vm.deadline.clock` value) with :class:`ExecutionTimedOut`.
    def _spoof(self, request: CallRequest, nonce: int, gas: int) -> SpoofTransaction:
        to = Address(request.to if request.to is not None else b"")
        unsigned: Any
        if request.access_list:
            builder: Any = self._vm_class.get_transaction_builder()
            unsigned = builder.new_unsigned_access_list_transaction(
                chain_id=self.chain_id, nonce=nonce, gas_price=0, gas=gas, to=to, value=request.value,
                data=request.data, access_list=request.access_list,
            )
        else:
            unsigned = self._vm_class.create_unsigned_transaction(
                nonce=nonce, gas_price=0, gas=gas, to=to, value=request.value, data=request.data,
            )
        return SpoofTransaction(unsigned, from_=request.sender)

    def _call_state(self, chain: Any, header: BlockHeaderAPI, overrides: CallOverrides) -> Any:
        """A throwaway state after ``header``, in the block that would follow it, with ``overrides`` applied.

        The same state ``VM.in_costless_state`` builds (base fee 0), but with the
        block fields a caller may override; it is never persisted.
        """
        vm: Any = chain.get_vm(header)
        child = vm.generate_block_from_parent_header_and_coinbase(header, header.coinbase).header
        context = overridden_header(child.copy(base_fee_per_gas=0), overrides.block)
        previous = itertools.chain((header.hash,), vm.previous_hashes)
        state = vm.build_state(vm.chaindb.db, context, vm.chain_context, previous)
        apply_account_overrides(state, overrides.accounts)
        return state

    def _run(self, state: Any, request: CallRequest, gas: int, deadline: float | None) -> CallResult:
        """Execute ``request`` on ``state``; its changes stay in the state's journal for the next run."""
        sender = Address(request.sender)
        nonce = state.get_nonce(sender)
        transaction = self._spoof(request, nonce, gas)
        set_deadline(state, deadline, None if deadline is None else self._worker_clock(deadline))
        try:
            computation = state.costless_execute_transaction(transaction)
        except ValidationError as exc:
            raise ExecutionFailed(_geth_wording(str(exc), request.sender)) from exc
        except ExecutionTimeout:
            raise ExecutionTimedOut(self.evm_timeout) from None
        accessed = _accessed_in_order(state)
        state.lock_changes()
        used = gas - computation.get_gas_remaining()
        error: BackendError | None = None
        logs: tuple[tuple[bytes, tuple[bytes, ...], bytes], ...] = ()
        if computation.is_error:
            if isinstance(computation.error, Revert):
                error = ExecutionReverted(decode_revert_reason(computation.output), computation.output)
            else:
                error = ExecutionFailed(str(computation.error) or type(computation.error).__name__)
        else:
            used -= min(computation.get_gas_refund(), used // 5)  # EIP-3529's refund cap
            logs = tuple(
                (address, tuple(t.to_bytes(32, "big") for t in topics), data)
                for _, address, topics, data in computation.get_raw_log_entries()
            )
        return CallResult(computation.output, used, error, logs, accessed)

    def execute_call(self, request: CallRequest, header: BlockHeaderAPI, deadline: float | None = None,
                     overrides: CallOverrides = NO_OVERRIDES) -> CallResult:
        """One call on the state after ``header``, its failure reported in the result rather than raised."""
        gas = min(request.gas or self.gas_cap, self.gas_cap)
        _, chain = self.store.overlay_chain()
        return self._run(self._call_state(chain, header, overrides), request, gas, deadline)

    def call(self, request: CallRequest, header: BlockHeaderAPI, deadline: float | None = None,
             overrides: CallOverrides = NO_OVERRIDES) -> bytes:
        """Execute without committing (``eth_call``) on the state after ``header``; raises on failure."""
        result = self.execute_call(request, header, deadline, overrides)
        if result.error is not None:
            raise result.error
        return result.output

    def estimate_gas(self, request: CallRequest, header: BlockHeaderAPI, deadline: float | None = None,
                     overrides: CallOverrides = NO_OVERRIDES) -> int:
        """Smallest gas with which the call succeeds, by binary search as geth does.

        Every try shares one ``deadline``: the whole search is one request's worth of execution.
        """
        cap = min(request.gas or self.store.genesis.gas_limit, self.gas_cap)
        self.call(dataclasses.replace(request, gas=cap), header, deadline, overrides)
        _, chain = self.store.overlay_chain()
        low = self._spoof(request, 0, cap).intrinsic_gas - 1
        high = cap
        while low + 1 < high:
            mid = (low + high) // 2
            try:
                failed = self._run(self._call_state(chain, header, overrides), request, mid, deadline).error is not None
            except ExecutionFailed:
                failed = True
            if failed:
                low = mid
            else:
                high = mid
        return high

    def create_access_list(
        self, request: CallRequest, header: BlockHeaderAPI, deadline: float | None = None,
        overrides: CallOverrides = NO_OVERRIDES,
    ) -> tuple[tuple[tuple[bytes, tuple[int, ...]], ...], CallResult]:
        """The access list the call touches, and the result of running it with that list (``eth_createAccessList``).

        As geth does, the call is re-run with the list found until the list no
        longer changes (adding a list can change the path, e.g. a gas-dependent
        branch). The sender, the callee (or created contract), precompiles and
        the fee recipient are left out unless storage of theirs is touched.
        """
        gas = min(request.gas or self.store.genesis.gas_limit, self.gas_cap)
        _, chain = self.store.overlay_chain()
        access_list = request.access_list
        for _ in range(ACCESS_LIST_ROUNDS):
            state = self._call_state(chain, header, overrides)
            nonce = state.get_nonce(Address(request.sender))
            callee = request.to if request.to is not None else generate_contract_address(Address(request.sender), nonce)
            excluded = {request.sender, callee, state.coinbase,
                        *getattr(state.computation_class, "_precompiles", {}).keys()}
            result = self._run(state, dataclasses.replace(request, access_list=access_list), gas, deadline)
            found = tuple((address, slots) for address, slots in result.accessed if slots or address not in excluded)
            if found == access_list:
                break
            access_list = found
        return access_list, result

    def simulate(self, blocks: tuple[SimulationRequest, ...], header: BlockHeaderAPI,
                 deadline: float | None = None) -> list[SimulatedBlock]:
        """``eth_simulateV1``: blocks of calls on top of ``header``, each block seeing the one before.

        As geth: each block is number+1 and 12 seconds after its parent unless
        overridden; a call without ``gas`` gets what is left of the block's gas
        limit; all calls together spend at most ``gas_cap`` (geth's RPC gas cap
        budget). Nothing is persisted: the state lives in one journal.
        """
        _, chain = self.store.overlay_chain()
        vm: Any = chain.get_vm(header)
        hashes = [header.hash, *itertools.islice(vm.previous_hashes, 255)]
        budget = self.gas_cap
        parent = header
        state: Any = None
        simulated: list[SimulatedBlock] = []
        for block in blocks:
            context = overridden_header(
                parent.copy(parent_hash=parent.hash, block_number=parent.block_number + 1,
                            timestamp=parent.timestamp + SIMULATED_BLOCK_SECONDS, gas_used=0, base_fee_per_gas=0),
                block.overrides.block,
            )
            if context.block_number <= parent.block_number:
                raise SimulationError(f"block number {context.block_number} is not above its parent's "
                                      f"{parent.block_number}")
            if context.timestamp < parent.timestamp:
                raise SimulationError(f"block timestamp {context.timestamp} is before its parent's {parent.timestamp}")
            execution_context = vm.create_execution_context(context, tuple(hashes), vm.chain_context)
            if state is None:
                state = vm.build_state(vm.chaindb.db, context, vm.chain_context, tuple(hashes))
            state.execution_context = execution_context
            apply_account_overrides(state, block.overrides.accounts)
            block_gas = 0
            results = []
            for request in block.calls:
                gas = request.gas if request.gas is not None else min(budget, context.gas_limit - block_gas)
                if gas > budget:
                    raise SimulationError(f"calls need more gas than the gas cap of {self.gas_cap} (limit [rpc] "
                                          "gas_cap)")
                if block_gas + gas > context.gas_limit:
                    raise SimulationError(f"block {context.block_number} gas limit reached")
                nonce = state.get_nonce(Address(request.sender))
                result = self._run(state, request, gas, deadline)
                budget -= result.gas_used
                block_gas += result.gas_used
                transaction_hash = keccak(rlp.encode([request.sender, nonce, gas, request.to or b"", request.value,
                                                      request.data, context.block_number]))
                results.append((transaction_hash, result))
            sealed = context.copy(state_root=state.make_state_root(), gas_used=block_gas)
            simulated.append(SimulatedBlock(sealed, tuple(results)))
            hashes = [sealed.hash, *hashes[:255]]
            parent = sealed
        return simulated

    # -- committed blocks ------------------------------------------------------
    def committed_block(self, header: BlockHeaderAPI) -> CommittedBlock:
        """A committed block with its receipts and logs, decoded once and kept a while.

        Committed blocks never change, so the cache needs no invalidation.
        """
        with self._recent_blocks_lock:
            cached = self._recent_blocks.get(header.hash)
            if cached is not None:
                self._recent_blocks.move_to_end(header.hash)
                return cached
        last = self._last_committed
        if last is not None and last[0].hash == header.hash:  # as committed: no need to read it back
            block, receipts = last
        else:
            block = self.store.block(header)
            receipts = self.store.receipts(header)
        committed = CommittedBlock(block, receipts, tuple(logs_of_block(header, receipts, block.transactions)))
        with self._recent_blocks_lock:
            self._recent_blocks[header.hash] = committed
            if len(self._recent_blocks) > self._recent_blocks_kept:
                self._recent_blocks.popitem(last=False)
        return committed

    # -- logs ------------------------------------------------------------------
    def get_logs(self, log_filter: LogFilter, max_blocks: int = 10_000,
                 deadline: float | None = None) -> list[LogEntry]:
        """Matching logs of committed blocks; thread-safe (committed blocks never change).

        Past ``deadline`` (a :func:`vm.deadline.clock` value) it raises :class:`QueryTimedOut`.
        """
        start, end = log_filter.from_block, min(log_filter.to_block, self.head.block_number)
        if end - start + 1 > max_blocks:
            raise BackendError(f"query spans {end - start + 1} blocks, more than the limit of {max_blocks}")
        if log_filter.addresses:
            numbers = sorted(
                {n for address in log_filter.addresses for n in self.store.blocks_with_logs_from(address, start, end)}
            )
        else:
            numbers = list(range(start, end + 1))
        found: list[LogEntry] = []
        read_clock = None if deadline is None else self._worker_clock(deadline)
        for number in numbers:
            if read_clock is not None and deadline is not None and read_clock() > deadline:
                raise QueryTimedOut(self.evm_timeout)
            header = self.store.header_by_number(number)
            if header is None or header.bloom == 0:
                continue
            found.extend(e for e in self.committed_block(header).logs if matches(log_filter, e))
        return found


_UNPAYABLE = re.compile(r"Sender does not have enough balance .*\(has (\d+), needs (\d+)\)")


def _geth_wording(message: str, sender: bytes) -> str:
    """py-evm's refusal of a call its sender cannot pay for, in geth's words (tools match on them)."""
    unpayable = _UNPAYABLE.search(message)
    if unpayable is not None:
        return (f"insufficient funds for gas * price + value: address 0x{sender.hex()} have {unpayable.group(1)} "
                f"want {unpayable.group(2)}")
    return message


def _accessed_in_order(state: Any) -> tuple[tuple[bytes, tuple[int, ...]], ...]:
    """The warm set of the transaction just run on ``state``: addresses with the slots touched, first touch first.

    Reads ``vm.account_db.AccessedState``'s log of keys (20-byte addresses and
    (address, slot) pairs); it is reset when the next transaction starts.
    """
    keys = getattr(state._account_db._journal_accessed_state, "_added", [])
    found: dict[bytes, list[int]] = {}
    for key in keys:
        if isinstance(key, tuple):
            address, slot = key
            slots = found.setdefault(bytes(address), [])
            if slot not in slots:
                slots.append(slot)
        else:
            found.setdefault(bytes(key), [])
    return tuple((address, tuple(slots)) for address, slots in found.items())


def logs_of_block(
    header: BlockHeaderAPI,
    receipts: Iterable[ReceiptAPI],
    transactions: Iterable[SignedTransactionAPI],
) -> list[LogEntry]:
    """The block's logs in order, with their block-wide log index."""
    entries = []
    log_index = 0
    for tx_index, (receipt, transaction) in enumerate(zip(receipts, transactions, strict=True)):
        for entry in receipt.logs:
            entries.append(
                LogEntry(
                    address=entry.address,
                    topics=tuple(t.to_bytes(32, "big") if isinstance(t, int) else t for t in entry.topics),
                    data=entry.data,
                    block_number=header.block_number,
                    block_hash=header.hash,
                    transaction_hash=transaction.hash,
                    transaction_index=tx_index,
                    log_index=log_index,
                )
            )
            log_index += 1
    return entries


def matches(log_filter: LogFilter, entry: LogEntry) -> bool:
    if log_filter.addresses and entry.address not in log_filter.addresses:
        return False
    if len(log_filter.topics) > len(entry.topics):
        return False
    return all(
        wanted is None or topic in wanted
        for wanted, topic in zip(log_filter.topics, entry.topics, strict=False)  # an entry may have more topics
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
