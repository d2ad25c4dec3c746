"""Trades (§2.3.1): the record, pluggable sources, and the local SQLite store.

A *trade source* is anything with ``poll(until) -> list[Trade]`` that returns the trades it has
not returned before whose timestamp is at or before ``until`` (Unix seconds). The default source
replays recorded files, because these machines cannot reach exchanges. A live adapter for an
exchange API implements the same method: keep a cursor (the last trade id or time seen per
exchange), fetch the exchange's public trade history or websocket buffer since that cursor, and
return the new trades as ``Trade`` records. Duplicates are harmless: the store keys trades by
(exchange, trade id).
"""
from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Protocol


class TradeFileError(ValueError):
    """A recorded trade file is missing, unreadable or has a malformed row."""


@dataclass(frozen=True, slots=True)
class Trade:
    exchange: str
    """Exchange name, e.g. "bitfinex"."""
    trade_id: str
    """The exchange's own trade id (unique per exchange)."""
    price: Decimal
    """Traded price in USD per unit of the collateral coin."""
    volume: Decimal
    """Traded amount of the collateral coin."""
    timestamp: float
    """Unix seconds."""


class TradeSource(Protocol):
    def poll(self, until: float) -> list[Trade]:
        """New trades with ``timestamp <= until`` not returned by an earlier call."""


FIELDS = ("exchange", "trade_id", "price", "volume", "timestamp")


def _parse(row: dict[str, object], where: str) -> Trade:
    try:
        price, volume = Decimal(str(row["price"])), Decimal(str(row["volume"]))
        trade = Trade(str(row["exchange"]), str(row["trade_id"]), price, volume, float(str(row["timestamp"])))
    except (KeyError, InvalidOperation, ValueError, TypeError) as exc:
        raise TradeFileError(f"{where}: expected fields {', '.join(FIELDS)}: {exc!r}") from None
    if not trade.exchange or price <= 0 or volume <= 0:
        raise TradeFileError(f"{where}: exchange must be set and price, volume positive")
    return trade


def read_trade_file(path: Path) -> list[Trade]:
    """Read a recorded file: ``.csv`` with a header row, or ``.jsonl`` with one object per line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TradeFileError(f"{path}: {exc.strerror or exc}") from None
    if path.suffix == ".jsonl":
        trades = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TradeFileError(f"{path}:{number}: not JSON: {exc.msg}") from None
                if not isinstance(row, dict):
                    raise TradeFileError(f"{path}:{number}: expected a JSON object")
                trades.append(_parse(row, f"{path}:{number}"))
        return trades
    if path.suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        return [_parse(row, f"{path}:{number}") for number, row in enumerate(reader, 2)]
    raise TradeFileError(f"{path}: unknown trade file type (use .csv or .jsonl)")


class RecordedTrades:
    """Replays recorded trade files in time order (the default source)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        trades = [t for p in paths for t in read_trade_file(p)]
        self._trades = sorted(trades, key=lambda t: t.timestamp)
        self._next = 0

    def poll(self, until: float) -> list[Trade]:
        start = self._next
        while self._next < len(self._trades) and self._trades[self._next].timestamp <= until:
            self._next += 1
        return self._trades[start:self._next]


class TradeStore:
    """Trades and hourly fixes in one SQLite file, owned by one feed process."""

    def __init__(self, path: Path | str) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS trades (
                exchange TEXT NOT NULL, trade_id TEXT NOT NULL, price TEXT NOT NULL,
                volume TEXT NOT NULL, timestamp REAL NOT NULL, PRIMARY KEY (exchange, trade_id));
            CREATE INDEX IF NOT EXISTS trades_by_time ON trades (timestamp);
            CREATE TABLE IF NOT EXISTS fixes (
                hour_end INTEGER PRIMARY KEY, price TEXT NOT NULL, exchanges INTEGER NOT NULL);
            """
        )

    def add(self, trades: Iterable[Trade]) -> int:
        """Insert trades, ignoring ones already stored; returns how many were new."""
        before = self.db.total_changes
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO trades VALUES (?, ?, ?, ?, ?)",
                [(t.exchange, t.trade_id, str(t.price), str(t.volume), t.timestamp) for t in trades],
            )
        return self.db.total_changes - before

    def between(self, start: float, end: float) -> list[Trade]:
        """Trades with start <= timestamp < end."""
        rows = self.db.execute(
            "SELECT exchange, trade_id, price, volume, timestamp FROM trades "
            "WHERE timestamp >= ? AND timestamp < ? ORDER BY timestamp", (start, end))
        return [Trade(e, i, Decimal(p), Decimal(v), ts) for e, i, p, v, ts in rows]

    def save_fix(self, hour_end: int, price: Decimal, exchanges: int) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO fixes VALUES (?, ?, ?)", (hour_end, str(price), exchanges))

    def previous_fix(self, hour_end: int) -> Decimal | None:
        row = self.db.execute(
            "SELECT price FROM fixes WHERE hour_end < ? ORDER BY hour_end DESC LIMIT 1", (hour_end,)).fetchone()
        return Decimal(row[0]) if row else None

    def fixes(self) -> list[tuple[int, Decimal, int]]:
        return [(h, Decimal(p), n) for h, p, n in self.db.execute("SELECT * FROM fixes ORDER BY hour_end")]

    def close(self) -> None:
        self.db.close()
