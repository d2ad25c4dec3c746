"""A long catch-up shows its progress: log lines with blocks/s off a terminal, a rich bar on one."""
from __future__ import annotations

from structlog.testing import capture_logs

from node.catchup import LOG_EVERY_SECONDS, MIN_GAP, CatchUpProgress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_short_gap_shows_nothing():
    progress = CatchUpProgress(interactive=False, clock=Clock())
    with capture_logs() as logs:
        for head in range(1, MIN_GAP):
            progress.observe(head, MIN_GAP - 1 + 1)
    assert not progress.active and logs == []


def test_a_long_catch_up_logs_blocks_per_second_and_the_time_left():
    clock = Clock()
    progress = CatchUpProgress(interactive=False, clock=clock)
    target = 10 * MIN_GAP
    with capture_logs() as logs:
        progress.observe(0, target)
        assert progress.active
        for head in range(1, target + 1):
            clock.now += 0.01  # 100 blocks/s
            progress.observe(head, target)
    events = [entry["event"] for entry in logs]
    assert events[0] == "catching up" and events[-1] == "caught up" and not progress.active
    periodic = [entry for entry in logs[1:-1] if entry["event"] == "catching up"]
    # one line every LOG_EVERY_SECONDS of the ~25.6 s catch-up
    assert len(periodic) == int(target * 0.01 // LOG_EVERY_SECONDS), periodic
    assert all(abs(entry["blocks_per_s"] - 100) < 1 for entry in periodic), periodic
    first = periodic[0]
    assert first["eta_s"] == round((target - first["height"]) / first["blocks_per_s"]), first
    assert logs[-1]["blocks"] == target and abs(logs[-1]["blocks_per_s"] - 100) < 1


def test_on_a_terminal_a_rich_bar_follows_the_head():
    clock = Clock()
    progress = CatchUpProgress(interactive=True, clock=clock)
    with capture_logs() as logs:
        progress.observe(0, 2 * MIN_GAP)
        bar, task = progress._bar, progress._task
        assert bar is not None
        for head in range(1, MIN_GAP + 1):
            clock.now += 0.02
            progress.observe(head, 2 * MIN_GAP)
        assert bar.tasks[task].completed == MIN_GAP and bar.tasks[task].total == 2 * MIN_GAP
        assert abs(bar.tasks[task].fields["rate"] - 50) < 1
        progress.finish(MIN_GAP)
    assert progress._bar is None and [entry["event"] for entry in logs] == ["catching up", "caught up"]
