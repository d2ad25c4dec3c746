"""The tracemalloc reports a node logs when SETTLE_TRACEMALLOC_SECONDS is set (issue 26)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from node.memtrace import ENVIRONMENT_VARIABLE, live_objects, trace_interval, trace_memory


@pytest.mark.parametrize(("value", "expected"), [("", None), ("abc", None), ("0", None), ("-1", None), ("30", 30.0)])
def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str,
                                                 expected: float | None) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
    assert trace_interval() == expected


async def test_a_report_names_the_line_that_grew() -> None:
    kept: list[bytes] = []
    try:
        with capture_logs() as logs:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trace_memory, 0.2)
                await trio.sleep(0.05)
                kept.extend(bytes(1000) + bytes([index % 256]) for index in range(3000))  # about 3 MB
                await trio.sleep(0.3)
                nursery.cancel_scope.cancel()
    finally:
        tracemalloc.stop()
    (report, *_) = [entry for entry in logs if entry["event"] == "memory trace"]
    assert report["traced_mb"] >= 2.5
    assert set(report["live_objects"]) >= {"WriteOverlay", "PendingBlock"}
    assert "test_memtrace.py" in report["top_growth"][0] and "KiB +300" in report["top_growth"][0]
    assert any("test_memtrace.py" in frame for frame in report["top_tracebacks"][0][1:])


def test_live_objects_counts_the_watched_types(tmp_path: Path) -> None:
    from vm.leveldb import LevelDB, WriteOverlay

    database = LevelDB(tmp_path / "db")
    try:
        before = live_objects()["WriteOverlay"]
        overlays = [WriteOverlay(database) for _ in range(3)]
        assert live_objects()["WriteOverlay"] == before + len(overlays)
    finally:
        database.close()
