"""The hourly price fix of §2.3.2, as pure functions over trades.

Per exchange: split the hour into twelve 5-minute intervals; the fix is the volume-weighted median
price of the last interval that has trades, and its weight is that interval's total volume; an
exchange without trades in the hour is omitted. Overall: the average of the exchange fixes weighted
by those volumes, with the weight of the 1st (largest volume), 2nd, … 5th exchange capped at 35%,
30%, 25%, 20%, 15%; a capped weight's excess goes to the uncapped exchanges in proportion to their
volumes. If every exchange is capped the weights are the caps, scaled to sum to 1. With no valid
exchange the previous fix stands. Ties in volume rank by exchange name, so results are deterministic.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from node.duo.trades import Trade

HOUR = 3600
INTERVAL = 300
WEIGHT_CAPS = (Fraction(35, 100), Fraction(30, 100), Fraction(25, 100), Fraction(20, 100), Fraction(15, 100))


@dataclass(frozen=True, slots=True)
class ExchangeFix:
    exchange: str
    price: Fraction
    volume: Fraction
    """Total volume of the 5-minute interval the price comes from."""


def volume_weighted_median(trades: Sequence[Trade]) -> Fraction:
    """The lowest price at which the volume traded at or below it reaches half the total."""
    ordered = sorted(trades, key=lambda t: t.price)
    total = sum(Fraction(t.volume) for t in ordered)
    running = Fraction(0)
    for trade in ordered:
        running += Fraction(trade.volume)
        if 2 * running >= total:
            return Fraction(trade.price)
    raise ValueError("no trades")


def exchange_fix(exchange: str, trades: Sequence[Trade], hour_end: int) -> ExchangeFix | None:
    """The fix of one exchange for the hour ending at ``hour_end`` (None: no trade in the hour)."""
    start = hour_end - HOUR
    in_hour = [t for t in trades if t.exchange == exchange and start <= t.timestamp < hour_end]
    for interval_end in range(hour_end, start, -INTERVAL):
        chosen = [t for t in in_hour if interval_end - INTERVAL <= t.timestamp < interval_end]
        if chosen:
            volume = sum((Fraction(t.volume) for t in chosen), Fraction(0))
            return ExchangeFix(exchange, volume_weighted_median(chosen), volume)
    return None


def capped_weights(volumes: Sequence[Fraction]) -> list[Fraction]:
    """Weights for volumes given largest first, capped by rank (WEIGHT_CAPS; 15% beyond the 5th)."""
    caps = [WEIGHT_CAPS[min(i, len(WEIGHT_CAPS) - 1)] for i in range(len(volumes))]
    weights: list[Fraction | None] = [None] * len(volumes)
    remaining = Fraction(1)
    while True:
        free = [i for i, w in enumerate(weights) if w is None]
        if not free:
            total = sum(w for w in weights if w is not None)
            return [w / total for w in weights if w is not None]
        free_volume = sum(volumes[i] for i in free)
        over = [i for i in free if remaining * volumes[i] / free_volume > caps[i]]
        if not over:
            for i in free:
                weights[i] = remaining * volumes[i] / free_volume
            return [w for w in weights if w is not None]
        first = over[0]  # cap the highest-ranked offender, then share out the rest again
        weights[first] = caps[first]
        remaining -= caps[first]


def overall_fix(fixes: Sequence[ExchangeFix], previous: Fraction | None) -> Fraction | None:
    """Volume-weighted, capped average of exchange fixes; ``previous`` when there are none."""
    if not fixes:
        return previous
    ranked = sorted(fixes, key=lambda f: (-f.volume, f.exchange))
    weights = capped_weights([f.volume for f in ranked])
    return sum((w * f.price for w, f in zip(weights, ranked, strict=True)), Fraction(0))


def hourly_fix(trades: Sequence[Trade], hour_end: int,
               previous: Fraction | Decimal | None) -> tuple[Fraction | None, int]:
    """The overall fix for the hour ending at ``hour_end`` and how many exchanges made it."""
    exchanges = sorted({t.exchange for t in trades})
    fixes = [f for f in (exchange_fix(e, trades, hour_end) for e in exchanges) if f is not None]
    return overall_fix(fixes, None if previous is None else Fraction(previous)), len(fixes)


def to_wad(price: Fraction | Decimal) -> int:
    """A price as the contract's 18-decimal fixed point, rounded down."""
    value = Fraction(price)
    return value.numerator * 10**18 // value.denominator
