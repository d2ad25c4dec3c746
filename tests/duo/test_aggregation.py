"""§2.3.2 price aggregation on hand-computed cases (pure functions, no node)."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction as F
from pathlib import Path

import pytest

from node.duo.aggregation import (
    ExchangeFix,
    capped_weights,
    exchange_fix,
    hourly_fix,
    overall_fix,
    to_wad,
    volume_weighted_median,
)
from node.duo.trades import RecordedTrades, Trade, TradeFileError, TradeStore, read_trade_file

HOUR_END = 1_529_528_400  # 2018-06-20 21:00 UTC


def trade(exchange: str, price: str, volume: str, seconds_before_end: float, tid: str = "") -> Trade:
    return Trade(exchange, tid or f"{exchange}-{price}-{seconds_before_end}", Decimal(price), Decimal(volume),
                 HOUR_END - seconds_before_end)


def test_volume_weighted_median() -> None:
    # Prices 100 (vol 1), 101 (vol 1), 102 (vol 3): half of 5 is reached at 102.
    assert volume_weighted_median([trade("x", "101", "1", 10), trade("x", "100", "1", 20),
                                   trade("x", "102", "3", 30)]) == 102
    # Exactly half at 100 (vol 2 of 4): 100.
    assert volume_weighted_median([trade("x", "100", "2", 10), trade("x", "105", "2", 20)]) == 100


def test_exchange_fix_uses_last_five_minutes_only() -> None:
    trades = [trade("kraken", "500", "10", 400),  # 55-60 min interval? no: 6m40s before the end
              trade("kraken", "510", "1", 100), trade("kraken", "512", "2", 200)]
    fix = exchange_fix("kraken", trades, HOUR_END)
    assert fix == ExchangeFix("kraken", F(512), F(3))


def test_exchange_fix_falls_back_to_previous_interval_with_trades() -> None:
    # Nothing in the last 10 minutes; the 45-50 minute interval has trades.
    trades = [trade("gemini", "490", "1", 700), trade("gemini", "495", "1", 650), trade("gemini", "480", "5", 2000)]
    assert exchange_fix("gemini", trades, HOUR_END) == ExchangeFix("gemini", F(490), F(2))


def test_exchange_without_trades_in_the_hour_is_omitted() -> None:
    trades = [trade("gdax", "500", "1", 3700), trade("bitfinex", "520", "2", 30)]  # gdax: only before the hour
    price, exchanges = hourly_fix(trades, HOUR_END, previous=None)
    assert (price, exchanges) == (F(520), 1)


def test_no_valid_exchange_keeps_previous_fix() -> None:
    assert hourly_fix([trade("gdax", "500", "1", 3601)], HOUR_END, previous=F(499)) == (F(499), 0)
    assert overall_fix([], previous=None) is None


def test_weights_below_caps_are_plain_volume_weights() -> None:
    volumes = [F(30), F(25), F(20), F(15), F(10)]  # 30/25/20/15/10%: each under its rank's cap
    assert capped_weights(volumes) == [v / 100 for v in volumes]
    fixes = [ExchangeFix(n, F(p), v) for n, p, v in zip("abcde", (500, 502, 504, 506, 508), volumes, strict=True)]
    assert overall_fix(fixes, None) == F(30 * 500 + 25 * 502 + 20 * 504 + 15 * 506 + 10 * 508, 100)


def test_equal_volumes_are_still_capped_by_rank() -> None:
    """Four equal volumes: 25% each breaks the 4th rank's 20% cap; 80% over three is 26.67%, above
    the 3rd rank's 25%; the last 55% goes half and half: 27.5/27.5/25/20. Ties rank by name."""
    assert capped_weights([F(10)] * 4) == [F(11, 40), F(11, 40), F(1, 4), F(1, 5)]
    fixes = [ExchangeFix(n, F(p), F(10)) for n, p in (("d", 400), ("c", 300), ("b", 200), ("a", 100))]
    assert overall_fix(fixes, None) == F(11, 40) * 100 + F(11, 40) * 200 + F(1, 4) * 300 + F(1, 5) * 400


def test_caps_first_and_fourth_rank() -> None:
    """Volumes 70/10/10/10: the 1st is capped at 35%; 65% shared equally gives 21.67% each, above
    the 4th rank's 20% cap, so the 4th gets 20% and the 2nd and 3rd 22.5% each."""
    assert capped_weights([F(70), F(10), F(10), F(10)]) == [F(35, 100), F(225, 1000), F(225, 1000), F(20, 100)]
    fixes = [ExchangeFix("a", F(100), F(70)), ExchangeFix("b", F(200), F(10)), ExchangeFix("c", F(300), F(10)),
             ExchangeFix("d", F(400), F(10))]
    assert overall_fix(fixes, None) == F("227.5")  # 35 + 45 + 67.5 + 80


def test_all_capped_weights_are_the_caps_scaled() -> None:
    """Three exchanges, volumes 50/30/20: 35% cap, then 30%, then 25%: 90% in all, scaled to 1."""
    assert capped_weights([F(50), F(30), F(20)]) == [F(35, 90), F(30, 90), F(25, 90)]
    fixes = [ExchangeFix("x", F(500), F(50)), ExchangeFix("y", F(510), F(30)), ExchangeFix("z", F(520), F(20))]
    assert overall_fix(fixes, None) == (F(35) * 500 + F(30) * 510 + F(25) * 520) / 90
    # A single exchange gets all the weight.
    assert overall_fix([ExchangeFix("x", F(480), F(1))], None) == 480


def test_six_exchanges_beyond_the_fifth_cap_at_15_percent() -> None:
    weights = capped_weights([F(100), F(1), F(1), F(1), F(1), F(1)])
    assert weights[0] == F(35, 100) and sum(weights) == 1
    assert all(w <= F(15, 100) for w in weights[5:])


def test_to_wad_rounds_down() -> None:
    assert to_wad(F(1, 3)) == 333333333333333333
    assert to_wad(Decimal("489.29")) == 489_290_000_000_000_000_000


def test_recorded_files_and_store(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("exchange,trade_id,price,volume,timestamp\n"
                                    f"kraken,1,500.5,0.1,{HOUR_END - 10}\nkraken,2,501,0.2,{HOUR_END + 10}\n")
    (tmp_path / "b.jsonl").write_text(
        f'{{"exchange": "gemini", "trade_id": "x9", "price": "499", "volume": "1", "timestamp": {HOUR_END - 5}}}\n')
    source = RecordedTrades([tmp_path / "a.csv", tmp_path / "b.jsonl"])
    first = source.poll(HOUR_END)
    assert [t.trade_id for t in first] == ["1", "x9"]
    assert source.poll(HOUR_END) == []
    assert [t.trade_id for t in source.poll(HOUR_END + 60)] == ["2"]
    store = TradeStore(tmp_path / "feed.sqlite")
    assert store.add(first) == 2 and store.add(first) == 0  # keyed by (exchange, trade id)
    assert [t.trade_id for t in store.between(HOUR_END - 3600, HOUR_END)] == ["1", "x9"]
    store.save_fix(HOUR_END, Decimal("500"), 2)
    assert store.previous_fix(HOUR_END + 3600) == Decimal("500") and store.previous_fix(HOUR_END) is None


@pytest.mark.parametrize("name, text, message", [
    ("t.csv", "exchange,trade_id,price\nk,1,5\n", "expected fields"),
    ("t.csv", "exchange,trade_id,price,volume,timestamp\nk,1,-5,1,0\n", "positive"),
    ("t.jsonl", "{not json\n", "not JSON"),
    ("t.txt", "", "unknown trade file type"),
])
def test_bad_trade_files_are_named_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(TradeFileError, match=message):
        read_trade_file(tmp_path / name)
