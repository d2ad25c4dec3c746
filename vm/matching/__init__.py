"""Settle's order-matching engine: native (C) and a pure-Python reference with the same semantics.

See docs/matching.md for the rules, the command and event formats, and the precompile.
"""
from __future__ import annotations

import hashlib
from typing import Protocol

from vm.matching._engine import Engine as NativeEngine
from vm.matching._engine import MatchingError
from vm.matching.reference import ReferenceEngine


class EngineAPI(Protocol):
    """What both engines offer."""

    def create_book(self, operator: bytes, stp: int, auction: bool) -> int: ...
    def execute(self, caller: bytes | None, book: int, commands: bytes,
                budget: int = ...) -> tuple[bytes, int, int]: ...
    def run_auction(self, caller: bytes | None, book: int, cancel_rest: bool,
                    budget: int = ...) -> tuple[bytes, int, int]: ...
    def best(self, book: int) -> tuple[int, int, int, int]: ...
    def depth(self, book: int, side: int, count: int) -> list[tuple[int, int, int]]: ...
    def serialize(self) -> bytes: ...
    def checkpoint(self) -> int: ...
    def rollback(self, position: int) -> None: ...


def state_digest(engine: EngineAPI) -> bytes:
    """SHA-256 of the engine's serialisation: the value committed into the world state."""
    return hashlib.sha256(engine.serialize()).digest()


__all__ = ["EngineAPI", "MatchingError", "NativeEngine", "ReferenceEngine", "state_digest"]
