"""Expensive RPC reads run on worker threads, so that consensus never waits on them.

The consensus engine, p2p and the RPC server share one trio thread. An
``eth_call`` to a slow precompile, an ``eth_estimateGas`` (a binary search of
about 26 calls) or an ``eth_getLogs`` over thousands of blocks would hold that
thread for as long as it runs. :class:`ReadWorkers` runs them on threads
instead, at most ``rpc.execution_workers`` at once (a ``trio.CapacityLimiter``;
more requests wait their turn), each against a wall-clock deadline of
``rpc.evm_timeout`` seconds counted from the request's arrival, so a request
that waited for a thread has less time to run.

A worker thread still competes for the GIL. CPython hands the GIL over at least
every switch interval (5 ms by default) when another thread asks for it, so
the trio thread keeps running, sharing the CPU with at most
``execution_workers`` threads; :func:`shorten_switch_interval` lowers the
interval so the trio thread waits less each time it wakes up for a message.
Worker threads are never abandoned: the deadline stops them (:mod:`vm.deadline`).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from vm.deadline import clock

T = TypeVar("T")

#: The switch interval the node runs with (CPython's default is 0.005 s).
SWITCH_INTERVAL_SECONDS = 0.001


def shorten_switch_interval(seconds: float = SWITCH_INTERVAL_SECONDS) -> None:
    """Let a waiting thread (the trio thread, when a consensus message arrives) take the GIL sooner.

    A CPU-bound worker holds the GIL until another thread has waited this
    long for it; consensus handles its messages on the trio thread, so each
    wake-up could wait that long.
    """
    sys.setswitchinterval(seconds)


class ReadWorkers:
    """Runs thread-safe read functions of the backend on a bounded set of worker threads."""

    def __init__(self, workers: int, timeout_seconds: float) -> None:
        self.limiter = trio.CapacityLimiter(workers)
        self.timeout_seconds = timeout_seconds

    def deadline(self) -> float:
        """The :func:`vm.deadline.clock` value at which a request arriving now must stop."""
        return clock() + self.timeout_seconds

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args, deadline=...)`` on a worker thread; its exceptions propagate."""
        deadline = self.deadline()
        return await trio.to_thread.run_sync(
            lambda: function(*args, deadline=deadline), limiter=self.limiter
        )
