"""Block sync: catching up from peers by checking certificates and re-executing.

A node that is behind (it was down, or started on an empty or old data dir)
asks a peer that is ahead for blocks by height, each with its commit
certificate. Every block is accepted only if its certificate verifies against
the validator set (a quorum of BLS seals over this chain's id, the height, the
round that decided it and the block hash) and it re-executes to the state root its header names; then it
is committed exactly as a block decided by consensus, and consensus moves to
the next height.

Peers' heads come from the p2p layer's status exchange (on connect, and polled
periodically); consensus also asks for sync when it sees the network ahead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import rlp
import structlog
import trio

from consensus.certificate import CommitCertificate, verify_certificate
from consensus.errors import InvalidCertificate
from consensus.validators import ValidatorSet
from node import metrics
from node.backend import Backend, InvalidBlock
from node.catchup import CatchUpProgress
from node.engine import ConsensusEngine

log = structlog.get_logger("settle.sync")

#: Blocks asked for in one request; the p2p layer caps it too.
BATCH = 32


class SyncError(Exception):
    """A peer served something that is not a valid continuation of our chain."""


class GenesisConflict(Exception):
    """Enough peers run another genesis that this node, not they, must be wrong."""


@dataclass(frozen=True, slots=True)
class PeerHead:
    height: int
    head_hash: bytes


class SyncNetwork(Protocol):
    async def request_blocks(self, peer_id: str, start: int, count: int) -> list[bytes]: ...


def encode_synced_block(block_rlp: bytes, certificate: bytes) -> bytes:
    """One item of a blocks response: ``rlp([block, certificate])``."""
    return rlp.encode([block_rlp, certificate])


class BlockSync:
    """Serves our blocks to peers and fetches theirs when they are ahead."""

    def __init__(self, backend: Backend, engine: ConsensusEngine, network_id: bytes,
                 conflict_threshold: int) -> None:
        self.backend = backend
        self.engine = engine
        self.network_id = network_id
        self.conflict_threshold = conflict_threshold
        """Peers on another genesis it takes to conclude that this node is misconfigured."""
        self.network: SyncNetwork | None = None
        self.peer_heads: dict[str, PeerHead] = {}
        self._foreign_peers: set[str] = set()
        self.conflict: GenesisConflict | None = None
        self._wake_send, self._wake_receive = trio.open_memory_channel[None](math.inf)
        engine.request_sync = lambda target: self._wake()
        self.progress = CatchUpProgress()
        """A long catch-up's progress: a bar on a terminal, ``catching up`` log lines otherwise."""

    def _validator_set(self, height: int) -> ValidatorSet:
        """The set that must have sealed block ``height``: from the registry state after ``height - 1``."""
        if self.engine.validator_set_at is not None:
            return self.engine.validator_set_at(height)
        return self.engine.config.validator_set

    # -- serving -----------------------------------------------------------------
    def status(self) -> tuple[bytes, int, bytes]:
        head = self.backend.head
        return self.network_id, head.block_number, head.hash

    def blocks(self, start: int, count: int) -> list[bytes]:
        """Committed blocks ``start``.. with their certificates, as many as we have."""
        items = []
        store = self.backend.store
        for number in range(max(start, 1), start + count):
            header = store.header_by_number(number)
            if header is None:
                break
            certificate = store.certificate(header.hash)
            if certificate is None:  # pragma: no cover - every block after 0 is committed with one
                break
            items.append(encode_synced_block(rlp.encode(store.block(header)), certificate))
        return items

    # -- learning about peers ----------------------------------------------------
    async def on_peer_status(self, peer: str, status: Any) -> None:
        """A peer's ``node.p2p.Status``: its genesis id and head."""
        network_id, height = status.network_id, status.height
        if network_id != self.network_id:
            self._foreign_peers.add(peer)
            log.error(
                "peer runs another genesis", peer=peer, theirs="0x" + network_id.hex(),
                ours="0x" + self.network_id.hex(),
            )
            if len(self._foreign_peers) >= self.conflict_threshold and self.conflict is None:
                # The p2p layer swallows callback errors; run() raises this for the node.
                self.conflict = GenesisConflict(
                    f"{len(self._foreign_peers)} validator peers run genesis id 0x{network_id.hex()}, "
                    f"this node runs 0x{self.network_id.hex()}: this node's genesis file differs from the "
                    "network's; refusing to run on its own"
                )
                self._wake()
            return
        self._foreign_peers.discard(peer)
        self.peer_heads[peer] = PeerHead(height, status.head_hash)
        if height > self.backend.head.block_number:
            self._wake()

    def _wake(self) -> None:
        self._wake_send.send_nowait(None)

    # -- fetching ----------------------------------------------------------------
    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for _ in self._wake_receive:
            if self.conflict is not None:
                raise self.conflict
            while True:
                peer = self._best_peer()
                if peer is None:
                    self.progress.finish(self.backend.head.block_number)
                    break
                try:
                    await self._fetch_from(peer)
                except SyncError as exc:
                    log.warning("sync from peer failed", peer=peer, reason=str(exc))
                    self.peer_heads.pop(peer, None)
                except Exception as exc:  # the p2p layer's errors: timeouts, resets
                    log.warning("sync request failed", peer=peer, error=str(exc) or type(exc).__name__)
                    self.peer_heads.pop(peer, None)
                    await trio.sleep(0.5)

    def _best_peer(self) -> str | None:
        head = self.backend.head.block_number
        ahead = [(info.height, peer) for peer, info in self.peer_heads.items() if info.height > head]
        return max(ahead)[1] if ahead else None

    async def _fetch_from(self, peer: str) -> None:
        assert self.network is not None
        start = self.backend.head.block_number + 1
        items = await self.network.request_blocks(peer, start, BATCH)
        if not items:
            # The peer has nothing past our head after all: it moved or lied.
            raise SyncError(f"asked for blocks from {start}, got none")
        target = self.peer_heads[peer].height if peer in self.peer_heads else start + len(items) - 1
        for item in items:
            if self.backend.head.block_number + 1 != start:
                return  # consensus committed meanwhile; ask again from the new head
            self.import_block(item)
            start += 1
            self.progress.observe(self.backend.head.block_number, target)
        if not self.progress.active:
            log.info("synced", height=self.backend.head.block_number, peer=peer)

    def import_block(self, item: bytes) -> None:
        """Verify one (block, certificate) item against our head and commit it."""
        try:
            block_rlp, certificate_bytes = rlp.decode(item)
        except (rlp.DecodingError, ValueError) as exc:
            raise SyncError(f"malformed sync item: {exc}") from exc
        except RecursionError:  # lists nested past the interpreter's recursion limit (node/recursion.py)
            raise SyncError("malformed sync item: lists nested too deeply") from None
        if not isinstance(block_rlp, bytes) or not isinstance(certificate_bytes, bytes):
            raise SyncError("malformed sync item: expected [block, certificate]")
        try:
            block = self.backend.decode_block(block_rlp)
            certificate = CommitCertificate.decode(certificate_bytes)
            if certificate.block_hash != block.hash or certificate.height != block.number:
                raise SyncError(f"certificate is for block {certificate.height}, not block {block.number}")
            verify_certificate(certificate, self._validator_set(block.number), self.engine.config.chain_id)
            pending = self.backend.execute_block(block)
        except (InvalidBlock, InvalidCertificate) as exc:
            raise SyncError(str(exc)) from exc
        self.backend.commit_block(pending, certificate_bytes)
        metrics.SYNCED_BLOCKS.inc()
        self.engine.block_committed_by_sync(block.number)
