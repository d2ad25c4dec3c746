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

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import rlp
import structlog
from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.exceptions import Revert, UnrecognizedTransactionType
from eth.vm.spoof import SpoofTransaction
from eth_typing import Address, BlockNumber
from eth_utils import ValidationError

from node.mempool import AccountView, Mempool, MempoolLimits, Rejected
from node.store import ChainStore
from vm.block_builder import ExcludedTransaction, build_block
from vm.block_import import BlockRejected, execute_block, reuse_known_senders
from vm.deadline import ExecutionTimeout, set_deadline
from vm.deadline import clock as deadline_clock
from vm.leveldb import WriteOverlay
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


@dataclass(frozen=True, slots=True)
class LogFilter:
    from_block: int
    to_block: int
    addresses: tuple[bytes, ...]
    """Empty matches any address."""
    topics: tuple[tuple[bytes, ...] | None, ...]
    """Per position: ``None`` matches anything, else any of the listed topics."""


RECENT_BLOCKS = 64
"""Committed blocks kept decoded for receipt and log queries."""


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
        self._recent_blocks_lock = threading.Lock()
        """Log queries run on worker threads and share the cache with the trio thread."""
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
        """Admit a transaction to the mempool; ``local`` is false for gossip from peers."""
        transaction = self.decode_transaction(raw)
        # Above the block gas limit the mempool's own message says more.
        if self.transaction_gas_cap < transaction.gas <= self.store.genesis.gas_limit:
            raise InvalidTransaction(
                f"transaction gas limit too high (cap: {self.transaction_gas_cap}, tx: {transaction.gas})"
            )
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

    # -- blocks ----------------------------------------------------------------
    def build_block(self, *, allow_empty: bool = False, budget_ms: float | None = None) -> PendingBlock | None:
        """Execute a new block from the mempool on top of the head, without committing it.

        Returns None when there is nothing to include and ``allow_empty`` is false.
        With ``budget_ms``, transactions stop being added once building has taken
        that long; the rest wait for the next block.
        """
        candidates = self.mempool.candidates()
        if not candidates and not allow_empty:
            return None
        overlay, chain = self.store.overlay_chain()
        started = time.perf_counter()
        with self._executing_block():
            built = build_block(
                chain,
                self.head,
                candidates,
                timestamp=int(self.clock()) + self.time_offset,
                coinbase=self.coinbase,
                deadline=None if budget_ms is None else started + budget_ms / 1000,
            )
        for heavy in built.too_heavy:
            log.warning("transaction too heavy for a block", hash="0x" + heavy.transaction.hash.hex(),
                        reason=heavy.reason)
        return PendingBlock(built.block, built.receipts, overlay, built.excluded,
                            (time.perf_counter() - started) * 1000)

    def decode_block(self, raw: bytes) -> BlockAPI:
        try:
            return rlp.decode(raw, sedes=self._vm_class.get_block_class())
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
        reuse_known_senders(block.transactions, self.mempool.get)
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
        self._head_state = None
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
    def _spoof(self, request: CallRequest, nonce: int, gas: int) -> SpoofTransaction:
        unsigned = self._vm_class.create_unsigned_transaction(
            nonce=nonce,
            gas_price=0,
            gas=gas,
            to=Address(request.to if request.to is not None else b""),
            value=request.value,
            data=request.data,
        )
        return SpoofTransaction(unsigned, from_=request.sender)

    def call(self, request: CallRequest, header: BlockHeaderAPI, deadline: float | None = None) -> bytes:
        """Execute without committing (``eth_call``) on the state after ``header``.

        Safe to run on a worker thread: it reads the state through its own
        chain object and overlay, never the head state the trio thread shares.
        Past ``deadline`` (a :func:`vm.deadline.clock` value) it raises
        :class:`ExecutionTimedOut`.
        """
        gas = min(request.gas or self.gas_cap, self.gas_cap)
        _, chain = self.store.overlay_chain()
        nonce = chain.get_vm(header).state.get_nonce(Address(request.sender))
        computation = self._execute(chain, header, self._spoof(request, nonce, gas), deadline)
        if computation.is_error:
            if isinstance(computation.error, Revert):
                output = computation.output
                raise ExecutionReverted(decode_revert_reason(output), output)
            raise ExecutionFailed(str(computation.error) or type(computation.error).__name__)
        return computation.output

    def _execute(self, chain: Any, header: BlockHeaderAPI, transaction: SpoofTransaction,
                 deadline: float | None) -> Any:
        """One costless execution on a fresh state after ``header``, stopped at ``deadline``."""
        try:
            with chain.get_vm(header).in_costless_state() as state:
                set_deadline(state, deadline, None if deadline is None else self._worker_clock(deadline))
                return state.costless_execute_transaction(transaction)
        except ValidationError as exc:
            raise ExecutionFailed(str(exc)) from exc
        except ExecutionTimeout:
            raise ExecutionTimedOut(self.evm_timeout) from None

    def estimate_gas(self, request: CallRequest, header: BlockHeaderAPI, deadline: float | None = None) -> int:
        """Smallest gas with which the call succeeds, by binary search as geth does.

        Every try shares one ``deadline``: the whole search is one request's
        worth of execution. Thread-safe as :meth:`call`.
        """
        cap = min(request.gas or self.store.genesis.gas_limit, self.gas_cap)
        self.call(CallRequest(request.sender, request.to, cap, request.value, request.data), header, deadline)
        _, chain = self.store.overlay_chain()
        nonce = chain.get_vm(header).state.get_nonce(Address(request.sender))
        low = self._spoof(request, nonce, cap).intrinsic_gas - 1
        high = cap
        while low + 1 < high:
            mid = (low + high) // 2
            try:
                failed = self._execute(chain, header, self._spoof(request, nonce, mid), deadline).is_error
            except ExecutionFailed:
                failed = True
            if failed:
                low = mid
            else:
                high = mid
        return high

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
        block = self.store.block(header)
        receipts = self.store.receipts(header)
        committed = CommittedBlock(block, receipts, tuple(logs_of_block(header, receipts, block.transactions)))
        with self._recent_blocks_lock:
            self._recent_blocks[header.hash] = committed
            if len(self._recent_blocks) > RECENT_BLOCKS:
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
