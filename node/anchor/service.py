"""The anchoring duty of a validator: checkpoints into Bitcoin, confirmed anchors back into Settle.

Each poll, for the oldest checkpoints without a record in the anchor registry
(at most ``max_in_flight`` of them):

1. an anchor with ``confirmations`` in the Bitcoin best chain -> the validator
   that sent it, or the one on duty (node/anchor/duty.py), submits the record by
   an ordinary Settle transaction; the registry keeps the first record only;
2. an anchor visible in the chain with fewer confirmations, or in the mempool -> wait;
3. nothing visible, but this validator has a pending transaction for it (it
   crashed, bitcoind lost it in a reorg or an outage) -> re-broadcast the same bytes;
4. nothing visible and this validator is on duty -> build, persist (node/anchor/pending.py),
   then send a new anchor transaction.

Because nobody sends while an anchor is visible and a pending transaction is
persisted before it is sent, a restart (even after SIGKILL) neither loses a
checkpoint nor makes a second anchor for it. A Bitcoin reorg that drops an
anchor makes it invisible again, so (3) re-sends it. A bitcoind outage only
delays all of this; catch-up happens at the next successful poll.

Bitcoin RPC runs in a worker thread (one at a time), so consensus never waits
on it. A failing node gives one warning line per kind of failure (not one per
poll) and a count in ``settle_anchor_bitcoin_rpc_errors_total``; anchoring
resumes by itself when the node is fixed.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import trio
from eth_account import Account

from node.anchor import metrics
from node.anchor.bitcoin import BitcoinCredentials, BitcoinError, BitcoinRPC
from node.anchor.bitcoin_ops import (
    FoundAnchor,
    anchor_in,
    block_anchors,
    broadcast,
    check_network,
    create_anchor_transaction,
    inclusion,
)
from node.anchor.bitcoin_tx import display, internal, parse_transaction
from node.anchor.duty import checkpoints_up_to, duty_holder, hand_overs
from node.anchor.payload import AnchorPayload
from node.anchor.pending import PendingAnchor, PendingAnchors
from node.anchor.registry import AnchorRecord, encode_record, recorded_count, recorded_heights
from node.backend import Backend, BackendError, CallRequest

log = structlog.get_logger("settle.anchor")

RECORD_GAS = 3_000_000
"""Gas of a record transaction (storing a ~250-byte transaction and a branch uses about 700,000)."""
RECORD_RETRY_SECONDS = 30.0
"""A record transaction not seen on-chain after this long is submitted again (say it was dropped)."""


@dataclass(frozen=True, slots=True)
class AnchorSettings:
    """The ``[anchor]`` config section, resolved for a validator."""

    rpc_url: str
    credentials: BitcoinCredentials | None = field(default=None, repr=False)
    cookie_file: Path | None = None
    wallet: str = ""
    network: str = "mainnet"
    fee_rate: float = 10.0
    interval_blocks: int = 100
    confirmations: int = 6
    duty_timeout: float = 600.0
    poll_seconds: float = 5.0
    rpc_timeout: float = 30.0
    scan_depth: int = 144
    max_in_flight: int = 20


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    height: int
    block_hash: bytes
    timestamp: int


@dataclass(slots=True)
class _Seen:
    anchor: FoundAnchor
    block_hash: bytes | None
    """The Bitcoin block it was found in; None for the mempool."""


class AnchorService:
    """Owns the pending-anchor file and the Bitcoin connection of one validator."""

    def __init__(self, backend: Backend, settings: AnchorSettings, *, account_key: bytes,
                 validators: Sequence[bytes] | Callable[[int], Sequence[bytes]], data_dir: Path) -> None:
        self.backend = backend
        self.settings = settings
        self.account_key = account_key
        self.address = _address(account_key)
        self.validators = validators
        """The validators taking turns: a fixed list, or the validator set of a checkpoint's height (the
        permission registry's, so a validator voted in or out joins or leaves the rotation)."""
        self.registry = backend.store.genesis.anchor.registry_address
        self.chain_id = backend.chain_id
        self.genesis_prefix = backend.store.genesis_id[:4]
        self.rpc = BitcoinRPC(settings.rpc_url, credentials=settings.credentials, cookie_file=settings.cookie_file,
                              wallet=settings.wallet, timeout=settings.rpc_timeout)
        self.pending = PendingAnchors(data_dir / "anchor" / "pending.json")
        self.recorded: list[int] = []
        self._recorded_set: set[int] = set()
        self._seen: dict[int, dict[bytes, _Seen]] = {}
        """Anchors seen in Bitcoin blocks or the mempool, by checkpoint height and txid."""
        self._scanned: set[bytes] = set()
        self._mempool_checked: set[bytes] = set()
        self._record_submitted: dict[int, float] = {}
        self._duty_polls: dict[int, int] = {}
        """Checkpoint height -> consecutive polls this validator has been on duty for it with nothing visible."""
        self._error: tuple[str, str] | None = None
        self._foreign_logged: set[bytes] = set()
        self.bitcoin_tip: int | None = None
        self.due: list[int] = []

    # -- the trio side ---------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        log.info("anchoring enabled", bitcoin=self.rpc.url, wallet=self.settings.wallet,
                 network=self.settings.network, interval=self.settings.interval_blocks,
                 confirmations=self.settings.confirmations, pending=len(self.pending.entries))
        task_status.started()
        while True:
            try:
                await self.poll()
            except Exception as exc:  # anchoring must never take the node down: one line saying what failed
                log.error("anchoring poll failed", error=f"{type(exc).__name__}: {exc}")
            await trio.sleep(self.settings.poll_seconds)

    def _call_registry(self, data: bytes) -> bytes:
        request = CallRequest(sender=b"\x00" * 20, to=self.registry, gas=None, value=0, data=data)
        return self.backend.call(request, self.backend.head)

    def refresh_recorded(self) -> None:
        count = recorded_count(self._call_registry)
        if count > len(self.recorded):
            self.recorded.extend(recorded_heights(self._call_registry, len(self.recorded)))
            self._recorded_set = set(self.recorded)

    async def poll(self) -> None:
        self.refresh_recorded()
        head = self.backend.head.block_number
        interval = self.settings.interval_blocks
        self.due = [h for h in checkpoints_up_to(head, interval) if h not in self._recorded_set]
        metrics.LAST_ANCHORED_HEIGHT.set(max(self.recorded, default=0))
        metrics.PENDING_ANCHORS.set(len(self.due))
        for height in [h for h in self._seen if h in self._recorded_set]:  # forget what is settled
            del self._seen[height]
            self._record_submitted.pop(height, None)
        for height in [h for h in self._duty_polls if h in self._recorded_set]:
            del self._duty_polls[height]
        done = [h for h in self.pending.entries if h in self._recorded_set]
        if done:
            await trio.to_thread.run_sync(self.pending.drop, done)
        metrics.IN_FLIGHT.set(len(self.pending.entries))
        if not self.due:
            return
        targets = []
        for height in self.due[:self.settings.max_in_flight]:
            header = self.backend.store.header_by_number(height)
            assert header is not None, height
            targets.append(_Checkpoint(height, header.hash, header.timestamp))
        records = await trio.to_thread.run_sync(self._bitcoin_work, targets, time.time())
        for record in records:
            self._submit_record(record)

    def _submit_record(self, record: AnchorRecord) -> None:
        fields = {
            "chainId": self.chain_id, "nonce": self.backend.pending_nonce(self.address), "to": self.registry,
            "value": 0, "gas": RECORD_GAS, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2,
            "data": encode_record(record),
        }
        raw = bytes(Account.sign_transaction(fields, self.account_key).raw_transaction)
        try:
            tx_hash = self.backend.send_raw_transaction(raw)
        except BackendError as exc:
            log.warning("anchor record not admitted", height=record.height, reason=str(exc))
            return
        self._record_submitted[record.height] = time.monotonic()
        metrics.RECORDS_SUBMITTED.inc()
        log.info("anchor record submitted", height=record.height, btc_txid=display(record.btc_txid),
                 btc_block=record.btc_block_height, tx="0x" + tx_hash.hex())

    # -- the worker-thread side --------------------------------------------------
    def _bitcoin_work(self, targets: list[_Checkpoint], now: float) -> list[AnchorRecord]:
        records: list[AnchorRecord] = []
        try:
            info = check_network(self.rpc, self.settings.network)
            self.bitcoin_tip = int(info["blocks"])
            self._scan_blocks(internal(info["bestblockhash"]))
            mempool = {internal(t) for t in self.rpc.call("getrawmempool")}
            self._scan_mempool(mempool)
            for checkpoint in targets:
                record = self._handle(checkpoint, now, mempool)
                if record is not None:
                    records.append(record)
        except BitcoinError as exc:
            self._failed(exc)
        else:
            if self._error is not None:
                log.info("bitcoin RPC working again", bitcoin=self.rpc.url, after=self._error[0])
                self._error = None
        return records

    def _failed(self, exc: BitcoinError) -> None:
        kind = exc.kind if exc.kind != "rpc" or "anchor.network" not in str(exc) else "network"
        metrics.BITCOIN_RPC_ERRORS.labels(kind=kind).inc()
        if self._error is None or self._error[0] != kind:
            log.warning("bitcoin RPC failed; anchoring waits", kind=kind, error=str(exc))
        self._error = (kind, str(exc))

    def _ours(self, anchor: FoundAnchor) -> bool:
        return anchor.payload.chain_id == self.chain_id and anchor.payload.genesis_prefix == self.genesis_prefix

    def _remember(self, anchor: FoundAnchor, block_hash: bytes | None) -> None:
        if self._ours(anchor):
            self._seen.setdefault(anchor.payload.height, {})[anchor.txid] = _Seen(anchor, block_hash)

    def _scan_blocks(self, tip: bytes) -> None:
        """Look for anchors in best-chain blocks not seen yet, from the tip back (at most ``scan_depth``)."""
        block_hash: bytes | None = tip
        fresh: list[tuple[bytes, list[FoundAnchor]]] = []
        while block_hash is not None and block_hash not in self._scanned and len(fresh) < self.settings.scan_depth:
            block, anchors = block_anchors(self.rpc, display(block_hash))
            fresh.append((block_hash, anchors))
            previous = block.get("previousblockhash")
            block_hash = internal(previous) if previous else None
        for scanned, anchors in reversed(fresh):  # oldest first, so a re-mined anchor ends at its newest block
            self._scanned.add(scanned)
            for anchor in anchors:
                self._remember(anchor, scanned)

    def _scan_mempool(self, mempool: set[bytes]) -> None:
        for txid in mempool - self._mempool_checked:
            try:
                raw = bytes.fromhex(self.rpc.call("getrawtransaction", display(txid)))
            except BitcoinError as exc:
                if exc.code == -5:  # mined or evicted since getrawmempool
                    continue
                raise
            anchor = anchor_in(raw)
            if anchor is not None and anchor.txid == txid:
                seen = self._seen.get(anchor.payload.height, {}).get(txid)
                if seen is None:
                    self._remember(anchor, None)
        self._mempool_checked = set(mempool)

    def _handle(self, checkpoint: _Checkpoint, now: float, mempool: set[bytes]) -> AnchorRecord | None:
        height = checkpoint.height
        own = self.pending.entries.get(height)
        validators = self.validators(height) if callable(self.validators) else self.validators
        on_duty = duty_holder(height, self.settings.interval_blocks, list(validators), checkpoint.timestamp, now,
                              self.settings.duty_timeout) == self.address
        visible = False
        for txid, seen in list(self._seen.get(height, {}).items()):
            if seen.anchor.payload.block_hash != checkpoint.block_hash:
                if txid not in self._foreign_logged:
                    self._foreign_logged.add(txid)
                    log.warning("bitcoin anchor for another block at a checkpoint height; ignored", height=height,
                                btc_txid=display(txid), anchored="0x" + seen.anchor.payload.block_hash.hex(),
                                local="0x" + checkpoint.block_hash.hex())
                continue
            if seen.block_hash is None:
                visible = visible or txid in mempool
                continue
            confirmations = int(self.rpc.call("getblockheader", display(seen.block_hash))["confirmations"])
            if confirmations < 1:  # its block left the best chain: it may be back in the mempool
                visible = visible or txid in mempool
                continue
            visible = True
            if confirmations < self.settings.confirmations or not (on_duty or own is not None):
                continue
            submitted = self._record_submitted.get(height)
            if submitted is not None and time.monotonic() - submitted < RECORD_RETRY_SECONDS:
                return None
            where = inclusion(self.rpc, seen.block_hash, txid)
            return AnchorRecord(height, checkpoint.block_hash, txid, where.block_hash, where.height, where.tx_index,
                                where.branch, seen.anchor.stripped)
        if visible:
            self._duty_polls.pop(height, None)
            return None
        if own is not None:
            if own.block_hash != checkpoint.block_hash:  # cannot happen on a final chain; never anchor it
                self.pending.drop([height])
            elif own.txid in mempool:
                return None
            elif broadcast(self.rpc, own.raw_tx):
                log.info("anchor transaction re-sent", height=height, btc_txid=display(own.txid))
                return None
            else:
                log.warning("pending anchor transaction conflicts with the chain; anchoring anew", height=height,
                            btc_txid=display(own.txid))
                self.pending.drop([height])
        if not on_duty:
            self._duty_polls.pop(height, None)
            return None
        # Handed the duty over by a timeout: wait one poll, so that an anchor the previous holder sent just
        # before the hand-over reaches the mempool (and this validator's view) first.
        self._duty_polls[height] = self._duty_polls.get(height, 0) + 1
        if hand_overs(checkpoint.timestamp, now, self.settings.duty_timeout) > 0 and self._duty_polls[height] < 2:
            return None
        payload = AnchorPayload(self.chain_id, self.genesis_prefix, height, checkpoint.block_hash).encode()
        raw = create_anchor_transaction(self.rpc, payload, self.settings.fee_rate)
        txid = parse_transaction(raw).txid
        self.pending.put(PendingAnchor(height, checkpoint.block_hash, raw, txid))  # on disk before it is sent
        if not broadcast(self.rpc, raw):
            self.pending.drop([height])
            raise BitcoinError(f"bitcoin node refused the anchor transaction of checkpoint {height}")
        metrics.ANCHORS_SENT.inc()
        log.info("anchor transaction sent", height=height, btc_txid=display(txid),
                 block_hash="0x" + checkpoint.block_hash.hex())
        return None

    # -- status ----------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "intervalBlocks": self.settings.interval_blocks,
            "confirmations": self.settings.confirmations,
            "lastAnchoredHeight": max(self.recorded, default=0),
            "recordedCheckpoints": len(self.recorded),
            "pendingCheckpoints": list(self.due),
            "inFlight": [{"height": e.height, "btcTxid": display(e.txid)} for e in self.pending.entries.values()],
            "bitcoinTip": self.bitcoin_tip,
            "lastError": None if self._error is None else {"kind": self._error[0], "message": self._error[1]},
            "address": "0x" + self.address.hex(),
        }


def _address(account_key: bytes) -> bytes:
    return bytes.fromhex(Account.from_key(account_key).address[2:])
