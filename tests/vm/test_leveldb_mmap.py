"""LevelDB reads its tables with pread, not through memory mappings (vm/leveldb_mmap.py, issue 26).

A real plyvel database: its tables are flushed, read back, and this process's mappings are checked.
"""
from __future__ import annotations

import ctypes
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vm import leveldb_mmap
from vm.leveldb import LevelDB
from vm.leveldb_mmap import MmapSwitchUnavailable, disable_table_mmap, mmap_limit, raise_open_file_limit

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/self/maps (Linux)")


def _table_mappings(directory: Path) -> list[str]:
    prefix = str(directory.resolve()) + "/"
    return [line for line in Path("/proc/self/maps").read_text().splitlines() if prefix in line and ".ldb" in line]


def _mapped_tables_after_reads(directory: Path, *, switch: bool) -> int:
    """In a fresh process (LevelDB's environment is made once per process): write tables, read them back,
    and count this directory's table mappings."""
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        import vm.leveldb as storage
        if not {switch!r}:
            storage.disable_table_mmap = lambda: "skipped"
        directory = Path({str(directory)!r})
        db = storage.LevelDB(directory, write_buffer_bytes=1024 * 1024)
        values = {{}}
        for start in range(0, 4000, 500):
            batch = {{i.to_bytes(4, "big"): os.urandom(1024) for i in range(start, start + 500)}}
            db.write_many(batch)
            values.update(batch)
        assert len(list(directory.glob("*.ldb"))) >= 2, "the memtable was flushed to table files"
        assert all(db[key] == value for key, value in values.items())
        print(sum(str(directory.resolve()) in line and ".ldb" in line for line in open("/proc/self/maps")))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_tables_written_and_read_are_not_mapped(tmp_path: Path) -> None:
    assert _mapped_tables_after_reads(tmp_path / "chain", switch=True) == 0


def test_without_the_switch_leveldb_maps_its_tables(tmp_path: Path) -> None:
    """The control: the same writes and reads in a process that skips the switch map every table."""
    assert _mapped_tables_after_reads(tmp_path / "chain", switch=False) >= 2


def test_the_switch_reports_its_outcome(tmp_path: Path) -> None:
    LevelDB(tmp_path / "chain").close()
    assert disable_table_mmap() == "disabled"
    assert mmap_limit() == 0


def test_a_limit_other_than_leveldbs_default_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: the variable is written only while it holds LevelDB's 64-bit default (1,000) or already 0."""
    disable_table_mmap()
    address, _, _ = leveldb_mmap._limit_address()
    limit = ctypes.c_int.from_address(address)
    try:
        limit.value = 7  # the environment exists already, so this changes no behaviour
        with pytest.raises(MmapSwitchUnavailable, match="holds 7, not LevelDB's default 1000"):
            leveldb_mmap._set_mmap_limit(*leveldb_mmap._limit_address())
        assert limit.value == 7
    finally:
        limit.value = 0


def test_a_library_without_the_symbol_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leveldb_mmap, "MMAP_LIMIT_SYMBOL", "no_such_symbol")
    with pytest.raises(MmapSwitchUnavailable, match="has no symbol no_such_symbol"):
        leveldb_mmap._set_mmap_limit(*leveldb_mmap._limit_address())


def test_the_open_file_limit_is_raised_within_the_hard_limit() -> None:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, before[1]))
        raised = raise_open_file_limit(wanted=512)
        assert raised == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert raised == (512 if before[1] == resource.RLIM_INFINITY else min(512, before[1]))
        assert raise_open_file_limit(wanted=300) == raised, "never lowered"
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)
