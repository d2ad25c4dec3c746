"""Make LevelDB read its table files with ``pread`` instead of mapping them into memory.

The LevelDB in plyvel's wheel (1.22) maps up to 1,000 table files into the process and serves
reads of those tables from the mapping, without its block cache. Every page a read touches, and
with the kernel's fault-around its 64 KiB neighbourhood, then stays in the process's RSS until
the table is closed, so the RSS grows with the database: about 18 MB an hour at 10 transactions
a second (issue 26), up to 1,000 tables' worth. The pages are page cache, which the kernel takes
back under pressure, but an operator's RSS alarm and a container's working-set figure count them
as the node's. RocksDB (``allow_mmap_reads = false``) and goleveldb do not map tables by default.

LevelDB has the switch: its POSIX environment maps at most ``g_mmap_limit`` files, read once when
the environment is created, and its own tests set it to 0 (``EnvPosixTestHelper::
SetReadOnlyMMapLimit``). plyvel does not expose it and the library does not export it, but the
wheel's library keeps its symbol table, so :func:`disable_table_mmap` finds the variable there
(with pyelftools) and sets it to 0 before the first database is opened. It changes nothing unless
the library is the one expected: the symbol must be found, its address must fall in a writable
mapping of that library, and it must still hold LevelDB's 64-bit default (1,000). Tables are then
read with ``pread`` through LevelDB's block cache (``[storage] leveldb_cache_mb``) and the page
cache, and the RSS stays within the configured caches.
"""
from __future__ import annotations

import ctypes
import resource
from functools import cache
from pathlib import Path

import structlog
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

MMAP_LIMIT_SYMBOL = "_ZN7leveldb12_GLOBAL__N_112g_mmap_limitE"
"""``leveldb::(anonymous namespace)::g_mmap_limit`` in ``util/env_posix.cc``."""
ANCHOR_SYMBOL = "leveldb_create_default_env"
"""An exported function of the same library: its address gives the library's load address."""
DEFAULT_MMAP_LIMIT = 1000
"""LevelDB's ``kDefaultMmapLimit`` on 64-bit hosts, the value the variable must hold before it is changed."""
OPEN_FILES_WANTED = 65_536
"""The soft limit on open files the node asks for: without mappings, each open table holds a descriptor."""

log = structlog.get_logger("settle.storage")


class MmapSwitchUnavailable(Exception):
    """The loaded LevelDB is not the one whose mmap limit this module knows how to set."""


@cache
def disable_table_mmap() -> str:
    """Set LevelDB's mmap limit to 0 once per process, before any database is opened; returns the outcome.

    The outcome is ``"disabled"``, or a sentence saying why the tables stay mapped (logged once as a
    warning; the node still works, only its RSS counts the mapped pages).
    """
    try:
        _set_mmap_limit(*_limit_address())
    except (MmapSwitchUnavailable, ELFError, OSError) as exc:
        log.warning("LevelDB maps its table files; the RSS will count their pages", reason=str(exc))
        return str(exc) or type(exc).__name__
    return "disabled"


def raise_open_file_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise the soft limit on open files towards ``wanted`` (never above the hard limit); returns the soft limit.

    LevelDB keeps one descriptor per open table (up to ``max_open_files``) only while a fifth of this
    limit allows; beyond it, it opens the file again for every read. geth and bitcoind raise it too.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def mmap_limit() -> int:
    """The current value of LevelDB's mmap limit (for tests and diagnosis)."""
    address, _, _ = _limit_address()
    return ctypes.c_int.from_address(address).value


def _library_mappings() -> tuple[Path, list[tuple[int, int, str]]]:
    """The LevelDB library plyvel loaded, and its mappings in this process (start, end, permissions)."""
    import plyvel  # noqa: F401  # loads the LevelDB library the wheel bundles

    maps = Path("/proc/self/maps")
    if not maps.exists():
        raise MmapSwitchUnavailable("no /proc/self/maps to find plyvel's LevelDB library in")
    library: Path | None = None
    mappings = []
    for line in maps.read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not Path(fields[5]).name.startswith("libleveldb"):
            continue
        library = library or Path(fields[5])
        if fields[5] == str(library):
            start, end = (int(part, 16) for part in fields[0].split("-"))
            mappings.append((start, end, fields[1]))
    if library is None:
        raise MmapSwitchUnavailable("plyvel's LevelDB library was not found among this process's mappings")
    return library, mappings


def _limit_address() -> tuple[int, Path, list[tuple[int, int, str]]]:
    """The run-time address of ``g_mmap_limit``, the library it is in, and that library's mappings."""
    library, mappings = _library_mappings()
    values: dict[str, int] = {}
    with library.open("rb") as file:
        symbols = ELFFile(file).get_section_by_name(".symtab")
        if not isinstance(symbols, SymbolTableSection):
            raise MmapSwitchUnavailable(f"{library.name} has no symbol table")
        for name in (MMAP_LIMIT_SYMBOL, ANCHOR_SYMBOL):
            found = symbols.get_symbol_by_name(name)
            if not found:
                raise MmapSwitchUnavailable(f"{library.name} has no symbol {name}")
            values[name] = found[0]["st_value"]
    anchor = ctypes.cast(getattr(ctypes.CDLL(str(library)), ANCHOR_SYMBOL), ctypes.c_void_p).value
    if anchor is None:  # pragma: no cover - dlsym found the function, so it has an address
        raise MmapSwitchUnavailable(f"{ANCHOR_SYMBOL} has no address")
    return anchor - values[ANCHOR_SYMBOL] + values[MMAP_LIMIT_SYMBOL], library, mappings


def _set_mmap_limit(address: int, library: Path, mappings: list[tuple[int, int, str]]) -> None:
    if not any(start <= address and address + 4 <= end and perms.startswith("rw")
               for start, end, perms in mappings):
        raise MmapSwitchUnavailable(f"g_mmap_limit's address is not in a writable mapping of {library.name}")
    limit = ctypes.c_int.from_address(address)
    if limit.value == 0:
        return
    if limit.value != DEFAULT_MMAP_LIMIT:
        raise MmapSwitchUnavailable(f"g_mmap_limit holds {limit.value}, not LevelDB's default {DEFAULT_MMAP_LIMIT}")
    limit.value = 0
