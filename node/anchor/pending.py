"""Anchor transactions this validator has signed, kept on disk until their checkpoint is recorded.

The file (``<data_dir>/anchor/pending.json``) is written, fsynced and renamed into
place *before* the transaction is sent, so a crash at any point leaves either no
transaction (nothing was sent; the checkpoint is anchored again) or the exact
bytes that may have been sent (re-broadcast, never a second transaction). An
entry goes once the registry holds a record for its checkpoint.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


class PendingFileError(Exception):
    """The pending-anchor file is unreadable or malformed; the message names the file."""


@dataclass(frozen=True, slots=True)
class PendingAnchor:
    height: int
    block_hash: bytes
    raw_tx: bytes
    """The signed transaction, witness included, exactly as sent."""
    txid: bytes
    """Internal byte order."""

    def to_json(self) -> dict[str, object]:
        return {"height": self.height, "blockHash": self.block_hash.hex(), "rawTx": self.raw_tx.hex(),
                "txid": self.txid.hex()}


class PendingAnchors:
    """The persisted set, keyed by checkpoint height. Not thread-safe: one owner (the anchoring worker)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[int, PendingAnchor] = {}
        if path.exists():
            try:
                for item in json.loads(path.read_text(encoding="utf-8")):
                    entry = PendingAnchor(int(item["height"]), bytes.fromhex(item["blockHash"]),
                                          bytes.fromhex(item["rawTx"]), bytes.fromhex(item["txid"]))
                    self.entries[entry.height] = entry
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise PendingFileError(f"{path}: unreadable pending-anchor file: {exc}") from None

    def put(self, entry: PendingAnchor) -> None:
        self.entries[entry.height] = entry
        self._write()

    def drop(self, heights: list[int]) -> None:
        if any(h in self.entries for h in heights):
            for height in heights:
                self.entries.pop(height, None)
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        data = json.dumps([e.to_json() for _, e in sorted(self.entries.items())]).encode()
        with temporary.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
