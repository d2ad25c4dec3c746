"""The ``anchor_`` namespace: Bitcoin anchor records and the anchoring duty's status.

Records are read from the anchor-registry system contract in the head state, so
every node serves them, validators and read-only nodes alike; ``anchor_status``
adds this validator's own duty when it anchors. Bitcoin hashes are shown as
Bitcoin RPC shows them (byte-reversed hex, no 0x); Settle hashes 0x-prefixed.
"""
from __future__ import annotations

from typing import Any

from node.anchor.registry import (
    AnchorRecord,
    checkpoint_covering,
    read_record,
    recorded_count,
    recorded_heights,
)
from node.anchor.service import AnchorService
from node.backend import Backend, CallRequest
from node.rpc.api import _Namespace
from node.rpc.errors import LIMIT_EXCEEDED, invalid_argument, rpc_error
from node.rpc.params import quantity

DEFAULT_MAX_RECORDS = 1000
"""``[anchor] rpc_max_records``' default: most records one ``anchor_getAnchors`` answer carries."""


class AnchorAPI(_Namespace):
    prefix = "anchor"

    def __init__(self, backend: Backend, service: AnchorService | None = None,
                 max_records: int = DEFAULT_MAX_RECORDS) -> None:
        self.backend = backend
        self.service = service
        self.max_records = max_records

    def _call(self, data: bytes) -> bytes:
        registry = self.backend.store.genesis.anchor.registry_address
        return self.backend.call(CallRequest(b"\x00" * 20, registry, None, 0, data), self.backend.head)

    def _record(self, height: int) -> AnchorRecord:
        record = read_record(self._call, height)
        assert record is not None, height  # listed heights always have a record
        return record

    def getAnchors(self, from_height: Any = 0, limit: Any = None) -> list[dict[str, Any]]:
        """Records of checkpoints at or above ``from_height``, lowest first, at most ``limit`` of them."""
        start = quantity(from_height, 0, "fromHeight")
        count = self.max_records if limit is None else quantity(limit, 1, "limit")
        if count > self.max_records:
            raise rpc_error(LIMIT_EXCEEDED, f"limit {count} above the maximum of {self.max_records} records")
        heights = sorted(h for h in recorded_heights(self._call) if h >= start)[:count]
        return [self._record(h).to_json() for h in heights]

    def getAnchorForBlock(self, block: Any) -> dict[str, Any] | None:
        """The record that covers block ``block``: its own checkpoint's, or the next recorded one above it.

        Null when no checkpoint at or above the block is recorded yet. ``covers``
        says what the anchor proves about the block: for a block between
        checkpoints, the anchored checkpoint hash plus the parent-hash chain from
        the block up to it (``settle anchor verify --height`` checks that chain).
        """
        number = quantity(block, 0, "block")
        if number > self.backend.head.block_number:
            raise invalid_argument(0, f"block {number} is above the head {self.backend.head.block_number}")
        height = checkpoint_covering(recorded_heights(self._call), number)
        if height is None:
            return None
        result = self._record(height).to_json()
        result["block"] = number
        result["covers"] = "checkpoint" if height == number else "hash chain to checkpoint"
        return result

    def status(self) -> dict[str, Any]:
        """This node's anchoring duty, or just the registry's view when it does not anchor."""
        if self.service is not None:
            return self.service.status()
        count = recorded_count(self._call)
        heights = recorded_heights(self._call) if count else []
        return {"enabled": False, "lastAnchoredHeight": max(heights, default=0), "recordedCheckpoints": count}
