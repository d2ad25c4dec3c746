"""Payloads waiting to be sent to every peer, coalesced into frames.

Each direct frame costs a write per peer here and a read, a decode and a budget token at each
peer, so payloads published in the same moment share one frame: consensus messages published back
to back by one task, and transactions that trickle in from many RPC clients within a short linger.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from node.p2p.errors import P2PError
from node.p2p.messages import BATCH_OVERHEAD_BYTES, MAX_BATCH_ITEMS


class Outbox:
    """Payloads of one kind waiting to be sent, taken in batches.

    :meth:`put` neither blocks nor yields, so payloads a task publishes back to
    back travel together. :meth:`run` waits ``linger`` seconds after the first
    payload arrives (0: send as soon as it gets to run), so payloads that
    trickle in from many tasks, like transactions from RPC clients, share a
    frame too.
    """

    def __init__(self, kind: int, *, max_batch_bytes: int, max_pending: int, linger: float, log: Any) -> None:
        self.kind = kind
        self._linger = linger
        self._max_batch_bytes = max_batch_bytes
        self._max_pending = max_pending
        self._log = log
        self._pending: deque[bytes] = deque()
        self._ready = trio.Event()

    def put(self, raw: bytes) -> None:
        """Queue one payload (the caller has checked its size)."""
        if len(self._pending) >= self._max_pending:
            raise P2PError(f"outbox of kind {self.kind} is full ({self._max_pending} messages waiting)")
        self._pending.append(raw)
        self._ready.set()

    async def run(self, send: Callable[[int, list[bytes]], None]) -> None:
        """Hand queued payloads to ``send(kind, batch)`` in batches until cancelled; ``send`` must not block."""
        while True:
            await self._ready.wait()
            if self._linger > 0:
                await trio.sleep(self._linger)
            self._ready = trio.Event()
            while self._pending:
                batch = self._take_batch()
                try:
                    send(self.kind, batch)
                except Exception as exc:
                    self._log.error("sending a batch failed; batch dropped", kind=self.kind, dropped=len(batch),
                                    error=repr(exc))

    def _take_batch(self) -> list[bytes]:
        batch = [self._pending.popleft()]
        size = len(batch[0]) + BATCH_OVERHEAD_BYTES
        while self._pending and len(batch) < MAX_BATCH_ITEMS:
            next_size = len(self._pending[0]) + BATCH_OVERHEAD_BYTES
            if size + next_size > self._max_batch_bytes:
                break
            batch.append(self._pending.popleft())
            size += next_size
        return batch
