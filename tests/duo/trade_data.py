"""A deterministic two-day trade recording for four exchanges (the daemons' test input).

The machines running the tests cannot reach exchanges, so the "recording" is generated: hourly
price targets (a +0.8%/h climb for 14 hours, a +6% jump at hour 20, then a slow drift), trades in
most 5-minute intervals around each target, Gemini silent in hours 5-7, Kraken and Gemini written
as JSONL and Bitfinex and GDAX as CSV.
"""
from __future__ import annotations

import csv
import json
import random
from decimal import Decimal
from pathlib import Path

START = 1_529_524_800  # 2018-06-20 20:00 UTC
HOURS = 48
JUMP_HOUR = 20  # the hour whose fix is 6% above the previous one
EXCHANGES = ("bitfinex", "gdax", "kraken", "gemini")


def hourly_targets() -> list[Decimal]:
    price = Decimal(500)
    targets = []
    for hour in range(HOURS):
        if hour < 14:
            price *= Decimal("1.008")
        elif hour == JUMP_HOUR:
            price *= Decimal("1.06")
        else:
            price *= Decimal("0.999")
        targets.append(price.quantize(Decimal("0.01")))
    return targets


def write_recording(directory: Path) -> list[Path]:
    rng = random.Random(20180620)
    rows: dict[str, list[dict[str, object]]] = {e: [] for e in EXCHANGES}
    for hour, target in enumerate(hourly_targets()):
        for exchange in EXCHANGES:
            if exchange == "gemini" and 5 <= hour <= 7:
                continue
            for interval in range(12):
                if rng.random() < 0.2:
                    continue  # some 5-minute intervals without trades
                for _ in range(rng.randint(1, 3)):
                    noise = Decimal(rng.randint(-20, 20)) / 10_000  # within ±0.2%
                    rows[exchange].append({
                        "exchange": exchange,
                        "trade_id": f"{exchange}-{len(rows[exchange])}",
                        "price": str((target * (1 + noise)).quantize(Decimal("0.01"))),
                        "volume": str(Decimal(rng.randint(1, 500)) / 100),
                        "timestamp": START + hour * 3600 + interval * 300 + rng.randint(0, 299),
                    })
    paths = []
    for exchange, trades in rows.items():
        if exchange in ("kraken", "gemini"):
            path = directory / f"{exchange}.jsonl"
            path.write_text("".join(json.dumps(t) + "\n" for t in trades))
        else:
            path = directory / f"{exchange}.csv"
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(trades[0]))
                writer.writeheader()
                writer.writerows(trades)
        paths.append(path)
    return paths
