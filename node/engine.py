"""The consensus driver: one trio task feeding the pure state machine in order.

``consensus/`` decides and ``node/`` carries. Everything that reaches the
state machine (messages from peers, timers, the results of executing blocks,
blocks committed by sync) goes through :meth:`ConsensusEngine.feed`, which
applies events one at a time, in arrival order, and carries out the actions
each one returns, in order:

* ``PersistSafety`` is written to LevelDB (synced) before anything after it is
  sent, so a validator killed at any moment restarts knowing every vote it
  may have sent and never contradicts one;
* ``Broadcast`` goes to an outbox drained by one sender task, so messages leave
  in the order they were decided;
* ``BuildBlock``, ``ValidateBlock`` and ``CommitBlock`` run on the backend,
  synchronously, and feed their results back as events.

The engine runs on the same trio thread as JSON-RPC's cheap reads, so nothing
here needs a lock; block execution blocks that thread for as long as it takes,
which gas bounds. Calls, gas estimates and log queries run on worker threads
and step aside while a block executes (``node.rpc.workers``), and a
transaction that would run past the build budget is left out of the block
(``vm.block_builder``).
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import rlp
import structlog
import trio

from consensus.actions import (
    Broadcast,
    BuildBlock,
    CommitBlock,
    PersistSafety,
    ReportEvidence,
    RequestSync,
    ScheduleTimeout,
    ValidateBlock,
)
from consensus.errors import InvalidMessage
from consensus.events import BlockBuilt, BlockValidated, MessageReceived, NewHeight, TimeoutFired
from consensus.machine import apply, initial_state
from consensus.messages import MAX_MESSAGE_BYTES, Proposal, SignedMessage, decode
from consensus.state import ConsensusConfig
from consensus.validators import ValidatorSet
from node import compact_block, metrics
from node.backend import Backend, InvalidBlock, PendingBlock
from vm.native import keccak_256

log = structlog.get_logger("settle.consensus")

#: How far ahead of this node's clock a proposed block's timestamp may be (geth allows 15 s).
MAX_FUTURE_SECONDS = 15

#: How often a compact proposal waiting for missing transactions looks whether gossip brought them.
_FETCH_POLL_SECONDS = 0.02


class ConsensusHalted(Exception):
    """This node cannot follow the chain safely any more (its execution disagrees with a quorum)."""


class ConsensusNetwork(Protocol):
    """What the engine needs of the p2p layer (``node.p2p.P2PNetwork`` provides it)."""

    async def publish_consensus(self, raw: bytes) -> None: ...

    def peers(self) -> list[str]: ...


class ConsensusEngine:
    """Runs the BFT state machine for this node and applies its decisions to the chain."""

    def __init__(
        self,
        backend: Backend,
        config: ConsensusConfig,
        *,
        network: ConsensusNetwork | None = None,
        empty_blocks: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.config = config
        self.network = network
        self.empty_blocks = empty_blocks
        """Propose a block every period even with no transactions (QBFT's default). A
        single-validator dev chain waits for transactions instead."""
        self.clock = clock
        self.build_budget_ms = min(max(config.round_timeout_ms / 4, 100), 1000)
        """How long a proposer may spend executing transactions into a block: every
        validator must re-execute it well within the round timeout."""
        self.state = initial_state(config, backend.head.block_number + 1, backend.store.safety_record())
        self.last_commit_time: float | None = None
        self.request_sync: Callable[[int], None] = lambda target: None
        """Set by the block-sync service: called when consensus sees the network ahead."""
        self.validator_unreachable: Callable[[bytes], bool] = lambda address: False
        """Set by the node: whether the validator with this address is known not to answer our pings."""
        self.unreachable_proposer_grace_ms: int | None = None
        """Round-0 wait after the block period for an unreachable proposer (issue 26); None: the full timeout."""
        self.compact_proposals = False
        """Send own proposals compact (node/compact_block.py); set by a networked node from ``[p2p]``."""
        self.fetch_transactions: Callable[[str, list[bytes], float], Awaitable[list[bytes]]] | None = None
        """Set by a networked node: ask a peer for transactions by hash (a compact proposal's missing ones)."""
        self.proposal_fetch_timeout = 1.0
        """``[p2p] proposal_fetch_timeout``: seconds to fetch a compact proposal's missing transactions."""
        self.max_fetch_transactions = 1024
        """``[p2p] max_fetch_transactions``: most transactions fetched for one compact proposal."""
        self._events: deque[Any] = deque()
        self._feeding = False
        self._pending: dict[bytes, PendingBlock] = {}
        """Blocks executed at the current height, by hash, waiting for a commit decision."""
        self._last_committed: Any = None
        """The block this engine committed last: a validator a step behind may still ask for its
        transactions to complete the compact proposal of it."""
        self._waiting_build: tuple[int, int] | None = None
        """(height, round) of a BuildBlock held back until transactions arrive."""
        self._height_started = time.monotonic()
        self._proposal_seen: tuple[int, float] | None = None
        """(height, monotonic time) of the first proposal this node built or validated at that height: the
        next height's block period is counted from it, not from the commit (see ``_timeout_delay_ms``)."""
        self._nursery: trio.Nursery | None = None
        self._outbox_send, self._outbox_receive = trio.open_memory_channel[bytes](math.inf)
        self.automine = not empty_blocks
        """Dev chains: propose as soon as a transaction arrives (``evm_setAutomine``). Off, transactions
        wait for the next period (interval mining) or for ``evm_mine``."""
        backend.on_transaction(lambda _hash: self._on_transaction())
        self._recent_local: dict[bytes, float] = {}
        """Hashes of transactions this node's clients submitted, with when (monotonic): a compact proposal
        carries the fresh ones in full, as gossip may not have delivered them yet."""
        backend.on_local_transaction(self._note_local)
        self.validator_set_at: Callable[[int], ValidatorSet] | None = None
        """The set of a height from the permission registry (node/validator_registry.py); None: the
        configured set forever. Read at each new height, so a change decided in block h applies from h+1."""

    def _new_height(self, height: int) -> NewHeight:
        """``NewHeight(height)``, carrying the height's validator set when the registry changed it."""
        if self.validator_set_at is None:
            return NewHeight(height)
        validator_set = self.validator_set_at(height)
        if validator_set == self.state.config.validator_set:
            return NewHeight(height)
        log.info("validator set changed", height=height, validators=validator_set.n, quorum=validator_set.quorum,
                 addresses=["0x" + v.address.hex() for v in validator_set.validators])
        return NewHeight(height, validator_set=validator_set)

    # -- running -----------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._send_loop)
            self.feed(self._new_height(self.backend.head.block_number + 1))
            log.info(
                "consensus started",
                height=self.state.height,
                validators=self.state.config.validator_set.n,
                quorum=self.state.config.validator_set.quorum,
            )
            task_status.started()
            await trio.sleep_forever()

    async def _send_loop(self) -> None:
        async for raw in self._outbox_receive:
            if self.network is not None:
                try:
                    await self.network.publish_consensus(raw)
                except Exception as exc:  # a dead peer must not stop consensus
                    log.warning("consensus broadcast failed", error=str(exc))

    async def _fire_after(self, delay_ms: int, event: TimeoutFired) -> None:
        await trio.sleep(delay_ms / 1000)
        self.feed(event)

    # -- input -------------------------------------------------------------------
    async def on_network_message(self, raw: bytes, peer: str) -> None:
        """Callback for a consensus message from a peer: check the signature, then feed it.

        A compact proposal is first rebuilt into the signed message it stands
        for (:meth:`_complete_proposal`); one that cannot be is dropped, as if
        it never came, and the round times out as for a missing proposal.
        """
        if raw[:1] == compact_block.COMPACT_PREFIX:
            rebuilt = await self._complete_proposal(raw, peer)
            if rebuilt is None:
                return
            raw = rebuilt
        try:
            message = decode(raw, self.config.chain_id)
        except InvalidMessage as exc:
            metrics.CONSENSUS_MESSAGES_REJECTED.inc()
            log.warning("consensus message rejected", peer=peer, reason=str(exc))
            return
        self.feed(MessageReceived(message))

    async def _complete_proposal(self, frame: bytes, peer: str) -> bytes | None:
        """The signed PROPOSAL a compact frame stands for, its transactions from the mempool or fetched from ``peer``.

        At most ``max_fetch_transactions`` missing transactions are fetched, in
        one request bounded by ``proposal_fetch_timeout``; each one received
        must hash to a hash asked for. Returns None (logged, counted as a
        rejected message) when the frame is malformed, the transactions cannot
        be had in time, or the rebuilt transaction root differs from the header's.
        """
        try:
            proposal = compact_block.parse(frame)
            lacking = compact_block.missing(proposal, self.backend.mempool.get)
            held = self.held_transactions(lacking) if lacking else {}
            lacking = [tx_hash for tx_hash in lacking if tx_hash not in held]
            fetched: dict[bytes, bytes] = {}
            if lacking:
                fetched = await self._fetch(peer, lacking)
                log.info("compact proposal: transactions fetched", peer=peer, missing=len(lacking),
                         fetched=len(fetched))
            mempool = self.backend.mempool  # it may have changed during the fetch

            def transaction(tx_hash: bytes) -> bytes | None:
                found = mempool.get(tx_hash) or held.get(tx_hash)
                return compact_block.transaction_bytes(found) if found is not None else fetched.get(tx_hash)

            return compact_block.rebuild(proposal, transaction, self.backend.block_class, MAX_MESSAGE_BYTES)
        except compact_block.CompactBlockInvalid as exc:
            metrics.CONSENSUS_MESSAGES_REJECTED.inc()
            log.warning("compact proposal dropped", peer=peer, reason=str(exc))
            return None

    async def _fetch(self, peer: str, hashes: list[bytes]) -> dict[bytes, bytes]:
        """Those of ``hashes`` ``peer`` sends within the fetch timeout, by hash; never raises.

        Gossip keeps delivering meanwhile: the wait ends as soon as every hash is either fetched or
        in the mempool, or at the timeout, so a transaction that was merely late still completes the
        proposal when the peer cannot be asked or answers slowly.
        """
        if self.fetch_transactions is None:
            raise compact_block.CompactBlockInvalid(f"{len(hashes)} transactions missing and no network to fetch them")
        if len(hashes) > self.max_fetch_transactions:
            raise compact_block.CompactBlockInvalid(
                f"{len(hashes)} transactions missing, more than [p2p] max_fetch_transactions = "
                f"{self.max_fetch_transactions}")
        fetch, mempool = self.fetch_transactions, self.backend.mempool
        wanted = set(hashes)
        found: dict[bytes, bytes] = {}

        async def ask() -> None:
            try:
                items = await fetch(peer, hashes, self.proposal_fetch_timeout)
            except Exception as exc:  # a peer that cannot be asked or answers badly: gossip may still bring them
                log.warning("compact proposal: fetching transactions failed", peer=peer, error=str(exc))
                return
            for item in items:
                tx_hash = keccak_256(item).digest()
                if tx_hash in wanted:
                    found[tx_hash] = item

        with trio.move_on_after(self.proposal_fetch_timeout) as deadline:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ask)
                while not all(tx_hash in found or mempool.get(tx_hash) is not None for tx_hash in hashes):
                    await trio.sleep(_FETCH_POLL_SECONDS)
                nursery.cancel_scope.cancel()
        if deadline.cancelled_caught:
            log.warning("compact proposal: fetching transactions timed out", peer=peer, missing=len(hashes),
                        timeout=self.proposal_fetch_timeout)
        return found

    def held_transactions(self, hashes: list[bytes]) -> dict[bytes, Any]:
        """Those of ``hashes`` this node holds, by hash: pending in the mempool, or in a block executed at
        this height or committed last (a validator a step behind may still need them)."""
        mempool = self.backend.mempool
        held = {tx_hash: transaction for tx_hash in hashes if (transaction := mempool.get(tx_hash)) is not None}
        if len(held) < len(hashes):
            blocks = [pending.block for pending in self._pending.values()]
            if self._last_committed is not None:
                blocks.append(self._last_committed)
            wanted = set(hashes)
            for block in blocks:
                for transaction in block.transactions:
                    if transaction.hash in wanted:
                        held.setdefault(transaction.hash, transaction)
        return held

    def _note_local(self, raw: bytes) -> None:
        if self.compact_proposals:
            tx_hash = keccak_256(raw).digest()
            self._recent_local.pop(tx_hash, None)  # kept in time order: the oldest first
            self._recent_local[tx_hash] = time.monotonic()
            self._fresh_local()

    def _fresh_local(self) -> set[bytes]:
        """Hashes of local transactions younger than ``LOCAL_FULL_SECONDS``; older ones are forgotten."""
        cutoff = time.monotonic() - compact_block.LOCAL_FULL_SECONDS
        while self._recent_local:
            oldest, when = next(iter(self._recent_local.items()))
            if when >= cutoff:
                break
            del self._recent_local[oldest]
        return set(self._recent_local)

    def _wire_form(self, message: SignedMessage) -> bytes:
        """What goes on the wire for ``message``: own proposals of a block executed here compact, the rest as is."""
        payload = message.payload
        if self.compact_proposals and isinstance(payload, Proposal):
            pending = self._pending.get(payload.block_hash)
            if pending is not None:
                frame = compact_block.compact(message.raw, payload.block, pending.block, self._fresh_local())
                if frame is not None:
                    return frame
        return message.raw

    async def on_peer_ready(self, peer: str) -> None:
        """Callback for a peer that (re)connected: send it this round's own messages again.

        A peer cut off by a partition missed our latest ROUND-CHANGE (which carries our lock and its
        prepared certificate), PREPARE or COMMIT, and nothing replays them. Re-sending them
        as soon as it is back lets the f + 1 round-change catch-up and the quorum for our round form
        at once, instead of after both sides' next round timeouts (issue 26). The messages are the
        ones already signed for this round, exactly what a restart re-sends, so nothing new is signed.
        """
        messages = self.state.sent
        for message in messages:
            self._outbox_send.send_nowait(message.raw)
        if messages:
            log.info("peer connected; re-sent this round's messages", peer=peer, height=self.state.height,
                     round=self.state.round, messages=len(messages))

    def block_committed_by_sync(self, height: int) -> None:
        """Sync wrote block ``height``: consensus moves on to the next height."""
        if height + 1 > self.state.height:
            self._pending.clear()
            self._waiting_build = None
            self._mark_commit()
            self.feed(self._new_height(height + 1))

    def mine_now(self) -> None:
        """Dev chains (``evm_mine``): propose a block at once, empty if need be."""
        if self._waiting_build is None:
            self.feed(TimeoutFired(self.state.height, self.state.round, "propose"))
        if self._waiting_build is not None:
            self._build(*self._waiting_build, allow_empty=True)

    def feed(self, event: Any) -> None:
        """Apply ``event`` and everything it leads to, one event at a time, in order."""
        self._events.append(event)
        if self._feeding:
            return  # an action fed a follow-up event: the running loop takes it
        self._feeding = True
        try:
            while self._events:
                before = (self.state.height, self.state.round)
                self.state, actions = apply(self.state, self._events.popleft())
                if self.state.height == before[0] and self.state.round > before[1]:
                    metrics.ROUND_CHANGES.inc()
                    log.info("round change", height=self.state.height, round=self.state.round)
                metrics.CONSENSUS_ROUND.set(self.state.round)
                for action in actions:
                    self._carry_out(action)
        finally:
            self._feeding = False

    # -- actions -----------------------------------------------------------------
    def _carry_out(self, action: Any) -> None:
        if isinstance(action, PersistSafety):
            self.backend.store.save_safety_record(action.record)
        elif isinstance(action, Broadcast):
            self._outbox_send.send_nowait(self._wire_form(action.message))
        elif isinstance(action, ScheduleTimeout):
            if self._nursery is not None:
                event = TimeoutFired(action.height, action.round, action.kind)
                try:
                    self._nursery.start_soon(self._fire_after, self._timeout_delay_ms(action), event)
                except RuntimeError:  # shutting down: the nursery takes no new timers
                    pass
        elif isinstance(action, BuildBlock):
            if not self.empty_blocks and not self.automine:
                self._waiting_build = (action.height, action.round)  # evm_mine or automine builds it
            else:
                self._build(action.height, action.round, allow_empty=self.empty_blocks)
        elif isinstance(action, ValidateBlock):
            self._validate(action)
        elif isinstance(action, CommitBlock):
            self._commit(action)
        elif isinstance(action, RequestSync):
            log.info("network is ahead, syncing", target=action.target_height)
            self.request_sync(action.target_height)
        elif isinstance(action, ReportEvidence):
            metrics.EQUIVOCATIONS.inc()
            log.warning("equivocation evidence", evidence=repr(action.evidence)[:300])
        else:  # pragma: no cover - a new action type the engine does not know yet
            raise TypeError(f"unknown consensus action {action!r}")

    def _on_transaction(self) -> None:
        if not self.automine or self._feeding:
            return
        if self.empty_blocks:
            self.mine_now()  # interval mining with automine on too: no wait for the period
        else:
            self._build_if_waiting()

    def _timeout_delay_ms(self, action: ScheduleTimeout) -> int:
        """The machine's delay, with two node-local cuts.

        * The proposer's round-0 "propose" wait is the block period counted from the previous height's
          proposal, not from its commit: blocks then start one period apart, and a height whose
          consensus took longer than the period is proposed at once (docs/consensus.md, "Block period").
        * Round 0's round timer is cut to block period + grace when its proposer is known to be unreachable.

        Timers never decide safety in QBFT, only when a block is proposed or a round is given up
        (docs/consensus.md, "Proposer unreachable"), so these choices need no agreement between nodes.
        """
        if action.kind == "propose":
            seen = self._proposal_seen
            if seen is None or seen[0] != action.height - 1:
                return action.delay_ms
            elapsed_ms = (time.monotonic() - seen[1]) * 1000
            return max(0, round(action.delay_ms - elapsed_ms))
        grace = self.unreachable_proposer_grace_ms
        if action.kind != "round" or action.round != 0 or grace is None:
            return action.delay_ms
        config = self.state.config  # the validator set of this height (it may change per height)
        proposer = config.validator_set.proposer(action.height, 0).address
        if proposer == config.address or not self.validator_unreachable(proposer):
            return action.delay_ms
        delay = min(action.delay_ms, config.block_period_ms + grace)
        log.info("round-0 proposer unreachable; short round timer", height=action.height,
                 proposer="0x" + proposer.hex(), timeout_ms=delay)
        return delay

    def _build_if_waiting(self) -> None:
        if self._waiting_build is not None and not self._feeding:
            self._build(*self._waiting_build, allow_empty=False)

    def set_automine(self, enabled: bool) -> None:
        """Dev chains (``evm_setAutomine``); turned on, it mines what waits at once."""
        self.automine = enabled
        if enabled and len(self.backend.mempool):
            self.mine_now()

    def chain_rewound(self) -> None:
        """Dev chains (``evm_revert``): the store's head moved back; consensus starts again at the next height.

        Only a single-validator dev chain may do this: its safety record was
        deleted with the blocks (nobody else holds votes it could contradict).
        Timers of the abandoned heights are stale and dropped by the state machine.
        """
        self._pending.clear()
        self._waiting_build = None
        self.state = initial_state(self.config, self.backend.head.block_number + 1, None)
        self._mark_commit()
        self.feed(self._new_height(self.backend.head.block_number + 1))

    def _build(self, height: int, round_: int, *, allow_empty: bool) -> None:
        if height != self.backend.head.block_number + 1 or height != self.state.height:
            self._waiting_build = None
            return  # stale: the chain moved on
        pending = self.backend.build_block(allow_empty=allow_empty, budget_ms=self.build_budget_ms)
        if pending is None:
            self._waiting_build = (height, round_)
            return
        self._waiting_build = None
        self._pending[pending.block.hash] = pending
        self._note_proposal(height)
        log.info("proposing block", height=height, round=round_, txs=len(pending.block.transactions),
                 execution_ms=round(pending.execution_ms, 1))
        self.feed(BlockBuilt(height, round_, pending.block.hash, rlp.encode(pending.block)))

    def _note_proposal(self, height: int) -> None:
        if self._proposal_seen is None or self._proposal_seen[0] != height:
            self._proposal_seen = (height, time.monotonic())

    def _validate(self, action: ValidateBlock) -> None:
        self._note_proposal(action.height)
        if action.block_hash in self._pending:
            self.feed(BlockValidated(action.height, action.round, action.block_hash, True))
            return
        try:
            pending = self._execute_proposal(action.height, action.block_hash, action.block)
        except InvalidBlock as exc:
            metrics.BLOCKS_REJECTED.inc()
            log.warning("proposed block rejected", height=action.height, round=action.round,
                        hash="0x" + action.block_hash.hex(), reason=str(exc))
            self.feed(BlockValidated(action.height, action.round, action.block_hash, False, str(exc)))
            return
        self._pending[action.block_hash] = pending
        self.feed(BlockValidated(action.height, action.round, action.block_hash, True))

    def _execute_proposal(self, height: int, block_hash: bytes, raw: bytes) -> PendingBlock:
        block = self.backend.decode_block(raw)
        if block.hash != block_hash:
            raise InvalidBlock(f"block hashes to 0x{block.hash.hex()}, the proposal names 0x{block_hash.hex()}")
        if block.number != height:
            raise InvalidBlock(f"block number {block.number} proposed for height {height}")
        if block.header.timestamp > self.clock() + MAX_FUTURE_SECONDS:
            raise InvalidBlock(f"timestamp {block.header.timestamp} is more than {MAX_FUTURE_SECONDS}s ahead")
        if self.state.config.validator_set.index_of(block.header.coinbase) is None:
            raise InvalidBlock(f"coinbase 0x{block.header.coinbase.hex()} is not a validator")
        return self.backend.execute_block(block)

    def _commit(self, action: CommitBlock) -> None:
        pending = self._pending.get(action.block_hash)
        if pending is None:
            # Committed by a quorum, but this node never validated it (it joined late).
            try:
                pending = self._execute_proposal(action.height, action.block_hash, action.block)
            except InvalidBlock as exc:
                # A quorum sealed it, so the chain has it: this node's execution
                # disagrees with the network's. Stop rather than fork.
                raise ConsensusHalted(
                    f"block {action.height} (0x{action.block_hash.hex()}) was committed by a quorum but "
                    f"fails to execute here: {exc}"
                ) from exc
        self.backend.commit_block(pending, action.certificate.encode())
        self._last_committed = pending.block
        self._pending.clear()
        self._waiting_build = None
        self._mark_commit()
        metrics.BLOCKS_COMMITTED.inc()
        metrics.TRANSACTIONS_COMMITTED.inc(len(pending.block.transactions))
        self.feed(self._new_height(action.height + 1))

    def _mark_commit(self) -> None:
        now = time.monotonic()
        metrics.COMMIT_LATENCY.observe(now - self._height_started)
        self._height_started = now
        self.last_commit_time = self.clock()
        metrics.BLOCK_HEIGHT.set(self.backend.head.block_number)
        metrics.MEMPOOL_SIZE.set(len(self.backend.mempool))

    # -- status ------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What ``bft_status`` reports."""
        validators = self.state.config.validator_set
        return {
            "height": self.state.height,
            "round": self.state.round,
            "step": self.state.step,
            "proposer": validators.proposer(self.state.height, self.state.round).address,
            "peers": len(self.network.peers()) if self.network is not None else 0,
            "lastCommitTime": self.last_commit_time,
            "validators": validators.n,
            "quorum": validators.quorum,
        }
