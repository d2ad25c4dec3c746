"""Progress of a long catch-up through block sync: a rich progress bar on a terminal, log lines otherwise.

A node that starts far behind its peers (an audit node joining a long chain, a validator back from a
long outage) imports blocks for minutes. An operator watching a terminal sees a bar with blocks/s and
the time left; a node whose output goes to a log collector gets one structured ``catching up`` line
every ``LOG_EVERY_SECONDS`` instead. Short gaps (under ``MIN_GAP`` blocks) show nothing: they are
ordinary sync after a round or two.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("settle.sync")

MIN_GAP = 256
"""Blocks behind the best peer before progress is shown."""

LOG_EVERY_SECONDS = 5.0
"""Seconds between ``catching up`` log lines when stderr is not a terminal."""


class CatchUpProgress:
    """Fed after each imported block with the head and the best peer's height; owns its progress bar."""

    def __init__(self, *, interactive: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._interactive = sys.stderr.isatty() if interactive is None else interactive
        self._clock = clock
        self._start: tuple[float, int] | None = None
        self._last_log = 0.0
        self._bar: Any = None
        self._task: Any = None

    @property
    def active(self) -> bool:
        return self._start is not None

    def observe(self, head: int, target: int) -> None:
        """Note that the chain is at ``head`` and the best peer at ``target``."""
        now = self._clock()
        if self._start is None:
            if target - head < MIN_GAP:
                return
            self._start, self._last_log = (now, head), now
            log.info("catching up", height=head, target=target)
            if self._interactive:
                self._open_bar(head, target)
            return
        if head >= target:
            self.finish(head)
            return
        started_at, started_height = self._start
        elapsed = now - started_at
        rate = (head - started_height) / elapsed if elapsed > 0 else 0.0
        if self._bar is not None:
            self._bar.update(self._task, completed=head, total=target, rate=rate)
        elif now - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = now
            eta = (target - head) / rate if rate > 0 else None
            log.info("catching up", height=head, target=target, blocks_per_s=round(rate, 1),
                     eta_s=round(eta) if eta is not None else None)

    def finish(self, head: int) -> None:
        """The catch-up is over (reached the target, or sync stopped); closes the bar."""
        if self._start is None:
            return
        started_at, started_height = self._start
        elapsed = self._clock() - started_at
        if self._bar is not None:
            self._bar.stop()
            self._bar = self._task = None
        log.info("caught up", height=head, blocks=head - started_height, seconds=round(elapsed, 1),
                 blocks_per_s=round((head - started_height) / elapsed, 1) if elapsed > 0 else None)
        self._start = None

    def _open_bar(self, head: int, target: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("catching up"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[rate]:.0f} blocks/s"), TimeRemainingColumn(),
                             console=Console(stderr=True), transient=True)
        self._task = self._bar.add_task("sync", total=target, completed=head, rate=0.0)
        self._bar.start()
