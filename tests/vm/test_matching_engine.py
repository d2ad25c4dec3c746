"""The matching engine: every order type, priority, amend rules, self-trade prevention, the call auction,
serialisation and the undo log; and a property test that the C engine and the Python reference agree."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vm.matching import MatchingError, NativeEngine, ReferenceEngine, state_digest
from vm.matching.codec import Event, amend, cancel, decode_events, place
from vm.matching.reference import (
    BUY,
    EV_ACCEPT,
    EV_AMEND,
    EV_CANCEL,
    EV_FILL,
    EV_REJECT,
    EV_REST,
    FOK,
    IOC,
    LIMIT,
    MARKET,
    MAX_PRICE,
    MAX_QTY,
    POST_ONLY,
    R_AUCTION_END,
    R_FOK,
    R_POST_ONLY,
    R_STP,
    R_UNFILLED,
    R_UNKNOWN_ORDER,
    R_USER,
    SELL,
    STP_CANCEL_BOTH,
    STP_CANCEL_MAKER,
    STP_CANCEL_TAKER,
    STP_NONE,
)
from vm.matching.reference import MatchingError as ReferenceMatchingError

OPERATOR = b"\x0a" * 20
ERRORS = (MatchingError, ReferenceMatchingError)


@pytest.fixture(params=["native", "reference"])
def engine_class(request: Any) -> Any:
    return NativeEngine if request.param == "native" else ReferenceEngine


def book_with(engine_class: Any, stp: int = STP_NONE, auction: bool = False) -> tuple[Any, int]:
    engine = engine_class()
    return engine, engine.create_book(OPERATOR, stp, auction)


def run(engine: Any, book: int, *commands: bytes) -> list[Event]:
    events, _, _ = engine.execute(OPERATOR, book, b"".join(commands))
    return decode_events(events)


def kinds(events: list[Event]) -> list[int]:
    return [event.kind for event in events]


def fills(events: list[Event]) -> list[tuple[int, int, int, int]]:
    """(buy id, sell id, price, qty) of each fill."""
    return [(e.a, e.b, e.price, e.qty) for e in events if e.kind == EV_FILL]


def test_limit_order_rests_then_matches_at_maker_price(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    rest = run(engine, book, place(1, SELL, LIMIT, 100, 10))
    assert kinds(rest) == [EV_ACCEPT, EV_REST]
    taken = run(engine, book, place(2, BUY, LIMIT, 105, 4))
    assert kinds(taken) == [EV_ACCEPT, EV_FILL]
    fill = taken[1]
    assert (fill.a, fill.b, fill.c, fill.d, fill.price, fill.qty, fill.flag) == (2, 1, 2, 1, 100, 4, BUY)
    assert engine.best(book) == (0, 0, 100, 6)


def test_price_then_time_priority(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 101, 5), place(2, SELL, LIMIT, 100, 5), place(3, SELL, LIMIT, 100, 5))
    events = run(engine, book, place(4, BUY, LIMIT, 101, 12))
    # best price first (100), and at 100 the earlier order (2) before the later one (3)
    assert fills(events) == [(4, 2, 100, 5), (4, 3, 100, 5), (4, 1, 101, 2)]
    assert engine.depth(book, SELL, 5) == [(101, 3, 1)]


def test_bids_priority_and_depth_order(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, BUY, LIMIT, 98, 1), place(2, BUY, LIMIT, 99, 2), place(3, BUY, LIMIT, 97, 3),
        place(4, BUY, LIMIT, 99, 4))
    assert engine.depth(book, BUY, 2) == [(99, 6, 2), (98, 1, 1)]
    events = run(engine, book, place(5, SELL, LIMIT, 98, 7))
    assert fills(events) == [(2, 5, 99, 2), (4, 5, 99, 4), (1, 5, 98, 1)]


def test_market_order_never_rests(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3), place(1, SELL, LIMIT, 200, 3))
    events = run(engine, book, place(2, BUY, MARKET, 0, 10))
    assert fills(events) == [(3, 1, 100, 3), (3, 2, 200, 3)]
    assert events[-1].kind == EV_CANCEL and events[-1].b == R_UNFILLED and events[-1].qty == 4
    assert engine.best(book) == (0, 0, 0, 0)


def test_ioc_fills_what_it_can_and_cancels_the_rest(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3), place(1, SELL, LIMIT, 102, 3))
    events = run(engine, book, place(2, BUY, IOC, 101, 5))
    assert fills(events) == [(3, 1, 100, 3)]
    assert (events[-1].kind, events[-1].b, events[-1].qty) == (EV_CANCEL, R_UNFILLED, 2)
    assert engine.best(book) == (0, 0, 102, 3)


def test_fok_is_all_or_nothing(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3), place(1, SELL, LIMIT, 101, 3))
    killed = run(engine, book, place(2, BUY, FOK, 101, 7))
    assert kinds(killed) == [EV_ACCEPT, EV_CANCEL] and killed[1].b == R_FOK
    assert engine.best(book) == (0, 0, 100, 3)
    done = run(engine, book, place(2, BUY, FOK, 101, 6))
    assert fills(done) == [(4, 1, 100, 3), (4, 2, 101, 3)]
    assert engine.best(book) == (0, 0, 0, 0)


def test_post_only_is_refused_when_it_would_take(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3))
    refused = run(engine, book, place(2, BUY, POST_ONLY, 100, 1))
    assert kinds(refused) == [EV_ACCEPT, EV_CANCEL] and refused[1].b == R_POST_ONLY
    rested = run(engine, book, place(2, BUY, POST_ONLY, 99, 1))
    assert kinds(rested) == [EV_ACCEPT, EV_REST]


def test_cancel_and_unknown_cancel(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3))
    events = run(engine, book, cancel(1), cancel(1))
    assert (events[0].kind, events[0].b, events[0].qty) == (EV_CANCEL, R_USER, 3)
    assert (events[1].kind, events[1].b) == (EV_REJECT, R_UNKNOWN_ORDER)
    assert engine.best(book) == (0, 0, 0, 0)


def test_amend_reduce_keeps_priority_increase_loses_it(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 5), place(2, SELL, LIMIT, 100, 5))
    reduced = run(engine, book, amend(1, 100, 3))
    assert (reduced[0].kind, reduced[0].b) == (EV_AMEND, 1)
    assert fills(run(engine, book, place(3, BUY, LIMIT, 100, 1))) == [(3, 1, 100, 1)]  # 1 still first
    increased = run(engine, book, amend(1, 100, 9))
    assert (increased[0].kind, increased[0].b) == (EV_AMEND, 0)
    assert fills(run(engine, book, place(3, BUY, LIMIT, 100, 6))) == [(4, 2, 100, 5), (4, 1, 100, 1)]


def test_amend_to_a_crossing_price_matches_and_to_zero_cancels(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 5), place(2, BUY, LIMIT, 90, 5))
    events = run(engine, book, amend(2, 100, 5))
    assert fills(events) == [(2, 1, 100, 5)]
    run(engine, book, place(2, BUY, LIMIT, 90, 5))
    gone = run(engine, book, amend(3, 90, 0))
    assert (gone[0].kind, gone[0].b, gone[0].qty) == (EV_CANCEL, R_USER, 5)
    assert engine.best(book) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("mode", "expected_fills", "cancelled", "best"),
    [
        (STP_NONE, [(3, 1, 100, 2), (3, 2, 100, 2)], [], (0, 0, 0, 0)),
        (STP_CANCEL_TAKER, [], [3], (0, 0, 100, 4)),
        (STP_CANCEL_MAKER, [(3, 2, 100, 2)], [1], (100, 2, 0, 0)),
        (STP_CANCEL_BOTH, [], [1, 3], (0, 0, 100, 2)),
    ],
)
def test_self_trade_prevention(engine_class: Any, mode: int, expected_fills: list[Any], cancelled: list[int],
                               best: tuple[int, int, int, int]) -> None:
    engine, book = book_with(engine_class, stp=mode)
    run(engine, book, place(7, SELL, LIMIT, 100, 2), place(8, SELL, LIMIT, 100, 2))
    events = run(engine, book, place(7, BUY, LIMIT, 100, 4))
    assert fills(events) == expected_fills
    assert sorted(e.a for e in events if e.kind == EV_CANCEL and e.b == R_STP) == cancelled
    assert engine.best(book) == best


def test_fok_with_self_trade_prevention(engine_class: Any) -> None:
    engine, book = book_with(engine_class, stp=STP_CANCEL_MAKER)
    run(engine, book, place(7, SELL, LIMIT, 100, 5), place(8, SELL, LIMIT, 100, 2))
    # own 5 are skipped, the other 2 are not enough
    assert run(engine, book, place(7, BUY, FOK, 100, 3))[-1].b == R_FOK
    engine, book = book_with(engine_class, stp=STP_CANCEL_TAKER)
    run(engine, book, place(7, SELL, LIMIT, 100, 5), place(8, SELL, LIMIT, 100, 2))
    assert run(engine, book, place(7, BUY, FOK, 100, 1))[-1].b == R_FOK


def auction(engine_class: Any, orders: list[tuple[int, int, int]]) -> tuple[Any, int]:
    engine, book = book_with(engine_class, auction=True)
    run(engine, book, *(place(i + 1, side, LIMIT, price, qty) for i, (side, price, qty) in enumerate(orders)))
    return engine, book


def test_auction_book_collects_without_matching(engine_class: Any) -> None:
    engine, book = auction(engine_class, [(BUY, 105, 5), (SELL, 95, 5)])
    assert engine.best(book) == (105, 5, 95, 5)
    with pytest.raises(ERRORS, match="limit orders only"):
        run(engine, book, place(1, BUY, IOC, 100, 1))


def test_auction_maximises_volume(engine_class: Any) -> None:
    # demand: >=100: 10, >=101: 6, >=103: 2 ; supply: <=99: 3, <=100: 7, <=102: 12
    engine, book = auction(engine_class, [(BUY, 100, 4), (BUY, 101, 4), (BUY, 103, 2), (SELL, 99, 3),
                                          (SELL, 100, 4), (SELL, 102, 5)])
    assert engine.clearing_price(book) == (100, 7)
    events = decode_events(engine.run_auction(OPERATOR, book, False)[0])
    assert sum(e.qty for e in events if e.kind == EV_FILL) == 7
    assert {e.price for e in events if e.kind == EV_FILL} == {100}
    assert all(e.flag == 2 for e in events if e.kind == EV_FILL)
    # highest bids first, then time: order 3 (103) then 2 (101) then 1 (100)
    assert [e.a for e in events if e.kind == EV_FILL][0] == 3
    best_bid, _, best_ask, _ = engine.best(book)
    assert best_bid < best_ask or 0 in (best_bid, best_ask)


def test_auction_tie_min_imbalance(engine_class: Any) -> None:
    # volume 5 at 100 and 101; imbalance 5 at 100 (demand 10, supply 5), 0 at 101 (5 vs 5)
    engine, book = auction(engine_class, [(BUY, 100, 5), (BUY, 101, 5), (SELL, 100, 5), (SELL, 101, 0 + 1)])
    # supply <=100: 5, <=101: 6; demand >=100: 10, >=101: 5 -> vol 5 at both, imbalance 5 vs 1 -> 101
    assert engine.clearing_price(book) == (101, 5)


def test_auction_tie_excess_demand_takes_highest(engine_class: Any) -> None:
    # bids 10 @105, asks 4 @100 and nothing between: candidates 100 and 105, volume 4, imbalance 6 both,
    # excess demand at both -> the highest
    engine, book = auction(engine_class, [(BUY, 105, 10), (SELL, 100, 4)])
    assert engine.clearing_price(book) == (105, 4)


def test_auction_tie_excess_supply_or_balanced_takes_lowest(engine_class: Any) -> None:
    engine, book = auction(engine_class, [(BUY, 105, 4), (SELL, 100, 10)])
    assert engine.clearing_price(book) == (100, 4)
    balanced, book2 = auction(engine_class, [(BUY, 105, 4), (SELL, 100, 4)])
    assert balanced.clearing_price(book2) == (100, 4)


def test_auction_with_nothing_crossing_and_cancel_rest(engine_class: Any) -> None:
    engine, book = auction(engine_class, [(BUY, 99, 4), (SELL, 100, 4)])
    assert engine.clearing_price(book) == (0, 0)
    events = decode_events(engine.run_auction(OPERATOR, book, True)[0])
    assert [(e.kind, e.b, e.a) for e in events] == [(EV_CANCEL, R_AUCTION_END, 1), (EV_CANCEL, R_AUCTION_END, 2)]
    assert engine.live_orders == 0


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (place(1, 2, LIMIT, 100, 1), "side"),
        (place(1, BUY, 9, 100, 1), "order type"),
        (place(1, BUY, LIMIT, 0, 1), "price out of range"),
        (place(1, BUY, LIMIT, MAX_PRICE + 1, 1), "price out of range"),
        (place(1, BUY, MARKET, 5, 1), "price out of range"),
        (place(1, BUY, LIMIT, 100, 0), "quantity out of range"),
        (place(1, BUY, LIMIT, 100, MAX_QTY + 1), "quantity out of range"),
        (bytes([9]) + bytes(31), "unknown operation"),
        (bytes([1, 0, 0, 1]) + bytes(28), "reserved"),
        (cancel(1)[:16] + (5).to_bytes(16, "big"), "order id only"),
    ],
)
def test_bad_commands_are_refused_and_undo_the_whole_call(engine_class: Any, command: bytes, message: str) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3))
    before = engine.serialize()
    with pytest.raises(ERRORS, match=message):
        run(engine, book, place(2, BUY, LIMIT, 100, 1), command)
    assert engine.serialize() == before


def test_unknown_book_wrong_operator_and_partial_words(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    with pytest.raises(ERRORS, match="unknown book 2"):
        engine.execute(OPERATOR, 2, place(1, BUY, LIMIT, 1, 1))
    with pytest.raises(ERRORS, match="not its operator"):
        engine.execute(b"\x0b" * 20, book, place(1, BUY, LIMIT, 1, 1))
    with pytest.raises(ERRORS, match="32-byte"):
        engine.execute(OPERATOR, book, place(1, BUY, LIMIT, 1, 1)[:31])
    with pytest.raises(ERRORS, match="not a call-auction"):
        engine.run_auction(OPERATOR, book, False)


def test_serialisation_round_trip_and_malformed(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3), place(2, BUY, LIMIT, 90, 4), place(3, BUY, LIMIT, 90, 1))
    data = engine.serialize()
    again = engine_class.from_bytes(data)
    assert again.serialize() == data and state_digest(again) == state_digest(engine)
    assert run(again, book, place(4, SELL, LIMIT, 90, 5)) == run(engine, book, place(4, SELL, LIMIT, 90, 5))
    for bad in (data[:-1], data + b"\x00", b"XXXX" + data[4:]):
        with pytest.raises(ERRORS, match="malformed"):
            engine_class.from_bytes(bad)


def test_rollback_restores_state_exactly(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, place(1, SELL, LIMIT, 100, 3), place(2, SELL, LIMIT, 101, 3), place(3, BUY, LIMIT, 90, 4))
    before = engine.serialize()
    mark = engine.checkpoint()
    run(engine, book, place(4, BUY, LIMIT, 101, 5), amend(3, 95, 9), cancel(2), place(5, SELL, LIMIT, 80, 2))
    engine.create_book(OPERATOR, STP_NONE, True)
    assert engine.serialize() != before
    engine.rollback(mark)
    assert engine.serialize() == before and engine.book_count == 1


def test_work_budget_bounds_a_call_and_undoes_it(engine_class: Any) -> None:
    engine, book = book_with(engine_class)
    run(engine, book, *(place(1, SELL, LIMIT, 100 + i, 1) for i in range(10)))
    before = engine.serialize()
    sweep = place(2, BUY, MARKET, 0, 10)
    # 10 levels touched + 10 fills = 20 work units
    with pytest.raises(ERRORS, match="work budget exceeded"):
        engine.execute(OPERATOR, book, sweep, 19)
    assert engine.serialize() == before
    events, fills, levels = engine.execute(OPERATOR, book, sweep, 20)
    assert (fills, levels) == (10, 10)
    assert len(fills_of := [e for e in decode_events(events) if e.kind == EV_FILL]) == 10 and fills_of


def test_fok_check_and_self_trade_cancels_count_as_work(engine_class: Any) -> None:
    engine, book = book_with(engine_class, stp=STP_CANCEL_MAKER)
    run(engine, book, *(place(7, SELL, LIMIT, 100, 1) for _ in range(5)))
    _, fills, levels = engine.execute(OPERATOR, book, place(7, BUY, FOK, 100, 1))
    assert (fills, levels) == (0, 5)  # five own orders walked by the check, none fillable
    _, fills, levels = engine.execute(OPERATOR, book, place(7, BUY, LIMIT, 100, 1))
    assert (fills, levels) == (0, 6)  # one level touched, five self-trade cancels


# ---------------------------------------------------------------- property test: C == Python

OWNERS = st.integers(1, 4)
PRICES = st.integers(95, 105)
QTYS = st.integers(1, 20)


@st.composite
def steps(draw: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 120))):
        choice = draw(st.integers(0, 99))
        if choice < 55:
            kind = draw(st.sampled_from([LIMIT, LIMIT, LIMIT, MARKET, IOC, FOK, POST_ONLY]))
            price = 0 if kind == MARKET else draw(PRICES)
            words = [place(draw(OWNERS), draw(st.integers(0, 1)), kind, price, draw(QTYS))]
            if draw(st.integers(0, 30)) == 0:  # an invalid word somewhere in the call
                words.append(place(1, BUY, LIMIT, 0, 1))
            budget = draw(st.sampled_from([None, None, None, 0, 1, 3, 8]))
            out.append(("exec", draw(st.integers(1, 3)), b"".join(words), budget))
        elif choice < 70:
            out.append(("exec", draw(st.integers(1, 3)), cancel(draw(st.integers(1, 60)))))
        elif choice < 82:
            out.append(("exec", draw(st.integers(1, 3)), amend(draw(st.integers(1, 60)), draw(PRICES),
                                                                draw(st.integers(0, 25)))))
        elif choice < 88:
            out.append(("auction", draw(st.booleans()), draw(st.sampled_from([2**64 - 1, 2**64 - 1, 2, 5]))))
        elif choice < 93:
            out.append(("checkpoint",))
        elif choice < 97:
            out.append(("rollback",))
        else:
            out.append(("roundtrip",))
    return out


def apply_step(engine: Any, step: tuple[Any, ...], marks: list[int]) -> Any:
    if step[0] == "exec":
        try:
            if len(step) > 3 and step[3] is not None:
                return engine.execute(OPERATOR, step[1], step[2], step[3])
            return engine.execute(OPERATOR, step[1], step[2])
        except ERRORS as exc:
            return ("error", str(exc))
    if step[0] == "auction":
        try:
            return engine.clearing_price(4), engine.run_auction(OPERATOR, 4, step[1], step[2])
        except ERRORS as exc:
            return ("error", str(exc))
    if step[0] == "checkpoint":
        marks.append(engine.checkpoint())
        return None
    if step[0] == "rollback":
        if marks:
            engine.rollback(marks.pop())
        return None
    return type(engine).from_bytes(engine.serialize())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps(), st.sampled_from([STP_NONE, STP_CANCEL_TAKER, STP_CANCEL_MAKER, STP_CANCEL_BOTH]))
def test_native_and_reference_agree(stream: list[tuple[Any, ...]], stp: int) -> None:
    engines: list[Any] = [NativeEngine(), ReferenceEngine()]
    marks: list[list[int]] = [[], []]
    for engine in engines:
        engine.create_book(OPERATOR, STP_NONE, False)
        engine.create_book(OPERATOR, stp, False)
        engine.create_book(OPERATOR, STP_CANCEL_MAKER, False)
        engine.create_book(OPERATOR, STP_NONE, True)
    # the auction book gets orders too: route some placements there
    for step in stream:
        if step[0] == "exec" and step[1] == 3 and step[2][0] == 1 and step[2][2] == LIMIT:
            step = ("exec", 4, *step[2:])
        results = []
        for i, engine in enumerate(engines):
            result = apply_step(engine, step, marks[i])
            if step[0] == "roundtrip":
                engines[i] = result
                marks[i] = []
                result = None
            results.append(result)
        assert results[0] == results[1], step
        assert engines[0].serialize() == engines[1].serialize()
        for book in (1, 2, 3, 4):
            assert engines[0].best(book) == engines[1].best(book)
    assert state_digest(engines[0]) == state_digest(engines[1])


def test_long_random_stream_agrees() -> None:
    """One long stream (40,000 commands over four books, one per self-trade mode), beyond hypothesis' sizes."""
    import random

    rng = random.Random(20)
    native, reference = NativeEngine(), ReferenceEngine()
    for engine in (native, reference):
        for mode in (STP_NONE, STP_CANCEL_TAKER, STP_CANCEL_MAKER, STP_CANCEL_BOTH):
            engine.create_book(OPERATOR, mode, False)
    for _ in range(4000):
        words = []
        for _ in range(10):
            roll = rng.random()
            if roll < 0.6:
                kind = rng.choice([LIMIT, LIMIT, LIMIT, MARKET, IOC, FOK, FOK, POST_ONLY])
                words.append(place(rng.randint(1, 6), rng.randint(0, 1), kind,
                                   0 if kind == MARKET else rng.randint(990, 1010), rng.randint(1, 30)))
            elif roll < 0.85:
                words.append(cancel(rng.randint(1, native.next_id)))
            else:
                words.append(amend(rng.randint(1, native.next_id), rng.randint(990, 1010), rng.randint(0, 40)))
        command, book = b"".join(words), rng.randint(1, 4)
        assert native.execute(OPERATOR, book, command) == reference.execute(OPERATOR, book, command)
    assert native.serialize() == reference.serialize()
    assert state_digest(native) == state_digest(reference)
