"""Checkpoints taken at the same step on a py-evm database and on Settle's, for the comparison suites."""
from __future__ import annotations

from collections.abc import Callable


class PairedCheckpoints:
    """The (reference, ours) checkpoint pairs on the stack, as the caller (``AccountDB``, a state) sees them."""

    def __init__(self) -> None:
        self.active: list[tuple[object, object]] = []

    def record(self, reference: object, ours: object) -> None:
        self.active.append((reference, ours))

    def clear(self) -> None:
        """After an operation no caller takes a checkpoint across (locking, persisting, flattening)."""
        self.active.clear()

    def commit_or_discard(self, op: tuple, apply: Callable[..., object], reference: object, ours: object) -> None:
        """``apply(db, op, checkpoint)`` to both, at the pair ``op[1]`` chooses.

        It and every later pair leave the stack.
        """
        if not self.active:
            return
        pair = self.active[op[1] % len(self.active)]
        del self.active[self.active.index(pair) :]
        apply(reference, op, pair[0])
        apply(ours, op, pair[1])
