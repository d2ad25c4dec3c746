"""Where a node's memory goes: periodic tracemalloc reports, switched on by an environment variable.

``SETTLE_TRACEMALLOC_SECONDS=N`` makes the node start :mod:`tracemalloc` at start-up and log, every
N seconds, the Python heap traced so far and the 15 source lines whose allocations grew most since
the first report (``memory trace`` events). A soak with it set (``settle bench soak`` passes the
environment on to the validators) tells Python growth (those lines) from native growth (RSS rising
while the traced total stays flat: LevelDB's block cache and write buffer, libraries' C heaps).
Each report also counts the live objects of the types that hold a block's data
(``live_objects``): overlays and pending blocks must not pile up across heights.
Tracing costs CPU and memory, so it is for diagnosis, never for production.
"""
from __future__ import annotations

import gc
import os
import tracemalloc
from collections import Counter

import structlog
import trio

ENVIRONMENT_VARIABLE = "SETTLE_TRACEMALLOC_SECONDS"
TOP_LINES = 15
TOP_TRACEBACKS = 3
FRAMES = 12
"""Frames kept per allocation, so the report can say which caller keeps a growing line's objects."""

WATCHED_TYPES = frozenset({"WriteOverlay", "PendingBlock", "CommittedBlock", "HexaryTrie", "SettleChainDB",
                           "SettleAccountDB"})
"""Types counted in every report: each holds (or reaches) one block's writes or state."""

log = structlog.get_logger("settle.memory")


def live_objects() -> dict[str, int]:
    """How many objects of each :data:`WATCHED_TYPES` type are alive, after a full collection (garbage not counted)."""
    gc.collect()
    counts = Counter(name for name in (type(obj).__name__ for obj in gc.get_objects()) if name in WATCHED_TYPES)
    return {name: counts.get(name, 0) for name in sorted(WATCHED_TYPES)}


def trace_interval() -> float | None:
    """The report interval asked for in the environment, or None when tracing is off (or the value is bad)."""
    value = os.environ.get(ENVIRONMENT_VARIABLE, "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 else None


async def trace_memory(interval: float) -> None:
    """Log a tracemalloc report every ``interval`` seconds until cancelled."""
    tracemalloc.start(FRAMES)
    baseline = tracemalloc.take_snapshot()
    while True:
        await trio.sleep(interval)
        snapshot = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        growth = snapshot.compare_to(baseline, "lineno")[:TOP_LINES]
        log.info("memory trace", traced_mb=round(current / 2**20, 1), peak_mb=round(peak / 2**20, 1),
                 live_objects=live_objects(),
                 top_growth=[f"{stat.traceback[0].filename.rsplit('/site-packages/', 1)[-1]}:"
                             f"{stat.traceback[0].lineno} {stat.size_diff / 1024:+.0f} KiB {stat.count_diff:+d}"
                             for stat in growth],
                 top_tracebacks=[[f"{stat.size_diff / 1024:+.0f} KiB {stat.count_diff:+d}",
                                  *(f"{frame.filename.rsplit('/site-packages/', 1)[-1]}:{frame.lineno}"
                                    for frame in stat.traceback)]
                                 for stat in snapshot.compare_to(baseline, "traceback")[:TOP_TRACEBACKS]])
