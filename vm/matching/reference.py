"""The matching engine in plain Python: the reference the native engine is checked against.

Same interface, same event bytes and same serialisation as the C engine in
``_engine.c`` (hypothesis compares them on long random streams in
``tests/vm/test_matching_engine.py``), written for clarity rather than speed.
Its undo log is a list of whole serialisations: a checkpoint copies the
state, a rollback restores it. The rules themselves are documented once, in
docs/matching.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_PRICE = (1 << 40) - 1
MAX_QTY = (1 << 40) - 1
MAX_BOOKS = 65535
MAX_LIVE_ORDERS = 1_000_000

BUY, SELL = 0, 1
LIMIT, MARKET, IOC, FOK, POST_ONLY = range(5)
OP_PLACE, OP_CANCEL, OP_AMEND = 1, 2, 3
STP_NONE, STP_CANCEL_TAKER, STP_CANCEL_MAKER, STP_CANCEL_BOTH = range(4)
EV_ACCEPT, EV_FILL, EV_REST, EV_CANCEL, EV_REJECT, EV_AMEND = range(1, 7)
R_USER, R_UNFILLED, R_STP, R_FOK, R_AUCTION_END, R_CAPACITY, R_POST_ONLY, R_UNKNOWN_ORDER = range(1, 9)


class MatchingError(ValueError):
    """Bad input to the engine (the native engine raises its own class of the same name)."""


class _OverBudget(Exception):
    """The call's work units (fills, levels touched, orders walked) passed its budget."""


@dataclass
class _Order:
    id: int
    owner: int
    side: int
    price: int
    qty: int


@dataclass
class _Level:
    price: int
    orders: list[_Order] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(order.qty for order in self.orders)


@dataclass
class _Book:
    operator: bytes
    stp: int
    auction: bool
    # As in C: bids ascending, asks descending, so the best level is last.
    levels: tuple[list[_Level], list[_Level]] = field(default_factory=lambda: ([], []))


def _event(kind: int, flag: int, a: int, b: int, c: int, d: int, price: int, qty: int) -> bytes:
    return (bytes([kind, flag]) + bytes(6) + a.to_bytes(8, "big") + b.to_bytes(8, "big") + c.to_bytes(8, "big")
            + bytes(8) + d.to_bytes(8, "big") + price.to_bytes(8, "big") + qty.to_bytes(8, "big"))


def _crosses(taker_side: int, limit: int, level_price: int) -> bool:
    return level_price <= limit if taker_side == BUY else level_price >= limit


class ReferenceEngine:
    """The pure-Python engine."""

    def __init__(self) -> None:
        self.books: list[_Book] = []
        self.next_id = 1
        self.orders: dict[int, tuple[int, _Order]] = {}  # id -> (book index, order); looked up, never iterated
        self._log: list[bytes] = []
        self._events: list[bytes] = []
        self._fills = 0
        self._levels = 0
        self._budget = (1 << 64) - 1

    # -- state -------------------------------------------------------------

    @property
    def live_orders(self) -> int:
        return len(self.orders)

    @property
    def book_count(self) -> int:
        return len(self.books)

    def create_book(self, operator: bytes, stp: int, auction: bool) -> int:
        if len(operator) != 20:
            raise MatchingError("operator must be a 20-byte address")
        if not 0 <= stp <= STP_CANCEL_BOTH:
            raise MatchingError(f"unknown self-trade mode {stp}")
        if len(self.books) >= MAX_BOOKS:
            raise MatchingError("too many books")
        self.books.append(_Book(bytes(operator), stp, bool(auction)))
        return len(self.books)

    def _book(self, book: int, caller: bytes | None) -> int:
        if not 1 <= book <= len(self.books):
            raise MatchingError(f"unknown book {book}")
        if caller is not None and caller != self.books[book - 1].operator:
            raise MatchingError(f"book {book}: the caller is not its operator")
        return book - 1

    def _level_index(self, book: _Book, side: int, price: int) -> tuple[int, bool]:
        levels = book.levels[side]
        lo, hi = 0, len(levels)
        while lo < hi:
            mid = (lo + hi) // 2
            before = levels[mid].price < price if side == BUY else levels[mid].price > price
            if before:
                lo = mid + 1
            else:
                hi = mid
        return lo, lo < len(levels) and levels[lo].price == price

    def _add(self, bi: int, order: _Order) -> None:
        book = self.books[bi]
        index, found = self._level_index(book, order.side, order.price)
        if not found:
            book.levels[order.side].insert(index, _Level(order.price))
        book.levels[order.side][index].orders.append(order)
        self.orders[order.id] = (bi, order)

    def _remove(self, bi: int, order: _Order) -> None:
        book = self.books[bi]
        index, _ = self._level_index(book, order.side, order.price)
        level = book.levels[order.side][index]
        level.orders.remove(order)
        del self.orders[order.id]
        if not level.orders:
            del book.levels[order.side][index]

    def _emit(self, *fields: int) -> None:
        self._events.append(_event(*fields))

    def _spend(self, fill: bool) -> None:
        if fill:
            self._fills += 1
        else:
            self._levels += 1
        if self._fills + self._levels > self._budget:
            raise _OverBudget

    # -- matching ----------------------------------------------------------

    def _fok_fillable(self, book: _Book, side: int, owner: int, limit: int, qty: int) -> bool:
        total = 0
        for level in reversed(book.levels[1 - side]):
            if not _crosses(side, limit, level.price):
                break
            for maker in level.orders:
                self._spend(False)
                if book.stp != STP_NONE and maker.owner == owner:
                    if book.stp == STP_CANCEL_MAKER:
                        continue
                    return False
                total += maker.qty
                if total >= qty:
                    return True
        return False

    def _match(self, bi: int, side: int, order_id: int, owner: int, limit: int, qty: int) -> tuple[int, bool]:
        book = self.books[bi]
        opposite = book.levels[1 - side]
        while qty > 0 and opposite:
            level = opposite[-1]
            if not _crosses(side, limit, level.price):
                break
            self._spend(False)
            while qty > 0 and level.orders:
                maker = level.orders[0]
                if book.stp != STP_NONE and maker.owner == owner:
                    if book.stp == STP_CANCEL_TAKER:
                        return qty, True
                    self._spend(False)
                    self._emit(EV_CANCEL, 1 - side, maker.id, R_STP, maker.owner, 0, maker.price, maker.qty)
                    self._remove(bi, maker)
                    if book.stp == STP_CANCEL_BOTH:
                        return qty, True
                    continue
                filled = min(maker.qty, qty)
                self._spend(True)
                if side == BUY:
                    self._emit(EV_FILL, side, order_id, maker.id, owner, maker.owner, level.price, filled)
                else:
                    self._emit(EV_FILL, side, maker.id, order_id, maker.owner, owner, level.price, filled)
                qty -= filled
                if filled == maker.qty:
                    self._remove(bi, maker)
                else:
                    maker.qty -= filled
        return qty, False

    def _process(self, bi: int, side: int, kind: int, order_id: int, owner: int, price: int, qty: int) -> None:
        book = self.books[bi]
        if book.auction:
            if len(self.orders) >= MAX_LIVE_ORDERS:
                self._emit(EV_CANCEL, side, order_id, R_CAPACITY, owner, 0, price, qty)
                return
            self._add(bi, _Order(order_id, owner, side, price, qty))
            self._emit(EV_REST, side, order_id, 0, owner, 0, price, qty)
            return
        opposite = book.levels[1 - side]
        if kind == POST_ONLY and opposite and _crosses(side, price, opposite[-1].price):
            self._emit(EV_CANCEL, side, order_id, R_POST_ONLY, owner, 0, price, qty)
            return
        limit = ((1 << 64) - 1 if side == BUY else 0) if kind == MARKET else price
        if kind == FOK and not self._fok_fillable(book, side, owner, limit, qty):
            self._emit(EV_CANCEL, side, order_id, R_FOK, owner, 0, price, qty)
            return
        qty, stopped = self._match(bi, side, order_id, owner, limit, qty)
        if qty == 0:
            return
        if stopped:
            self._emit(EV_CANCEL, side, order_id, R_STP, owner, 0, price, qty)
        elif kind in (MARKET, IOC, FOK):
            self._emit(EV_CANCEL, side, order_id, R_UNFILLED, owner, 0, price, qty)
        elif len(self.orders) >= MAX_LIVE_ORDERS:
            self._emit(EV_CANCEL, side, order_id, R_CAPACITY, owner, 0, price, qty)
        else:
            self._add(bi, _Order(order_id, owner, side, price, qty))
            self._emit(EV_REST, side, order_id, 0, owner, 0, price, qty)

    def _find(self, bi: int, order_id: int) -> _Order | None:
        entry = self.orders.get(order_id)
        return entry[1] if entry is not None and entry[0] == bi else None

    def _command(self, bi: int, word: bytes, index: int) -> None:
        op, side, kind = word[0], word[1], word[2]
        if any(word[3:8]):
            raise MatchingError(f"command {index}: reserved bytes must be zero")
        a, price, qty = (int.from_bytes(word[i:i + 8], "big") for i in (8, 16, 24))
        book = self.books[bi]
        if op == OP_PLACE:
            if side > 1:
                raise MatchingError(f"command {index}: side must be 0 (buy) or 1 (sell)")
            if kind > POST_ONLY:
                raise MatchingError(f"command {index}: unknown order type")
            if book.auction and kind != LIMIT:
                raise MatchingError(f"command {index}: auction books take limit orders only")
            if (price != 0) if kind == MARKET else not 1 <= price <= MAX_PRICE:
                raise MatchingError(f"command {index}: price out of range")
            if not 1 <= qty <= MAX_QTY:
                raise MatchingError(f"command {index}: quantity out of range")
            order_id = self.next_id
            self.next_id += 1
            self._emit(EV_ACCEPT, side, order_id, 0, a, 0, price, qty)
            self._process(bi, side, kind, order_id, a, price, qty)
        elif op == OP_CANCEL:
            if side or kind or price or qty:
                raise MatchingError(f"command {index}: cancel takes an order id only")
            order = self._find(bi, a)
            if order is None:
                self._emit(EV_REJECT, 0, a, R_UNKNOWN_ORDER, 0, 0, 0, 0)
                return
            self._emit(EV_CANCEL, order.side, order.id, R_USER, order.owner, 0, order.price, order.qty)
            self._remove(bi, order)
        elif op == OP_AMEND:
            if side or kind:
                raise MatchingError(f"command {index}: amend takes an order id, a price and a quantity")
            if not 1 <= price <= MAX_PRICE:
                raise MatchingError(f"command {index}: price out of range")
            if qty > MAX_QTY:
                raise MatchingError(f"command {index}: quantity out of range")
            order = self._find(bi, a)
            if order is None:
                self._emit(EV_REJECT, 0, a, R_UNKNOWN_ORDER, 0, 0, price, qty)
                return
            if qty == 0:
                self._emit(EV_CANCEL, order.side, order.id, R_USER, order.owner, 0, order.price, order.qty)
                self._remove(bi, order)
            elif price == order.price and qty <= order.qty:
                self._emit(EV_AMEND, order.side, order.id, 1, order.owner, 0, price, qty)
                order.qty = qty
            else:
                self._emit(EV_AMEND, order.side, order.id, 0, order.owner, 0, price, qty)
                self._remove(bi, order)
                self._process(bi, order.side, LIMIT, order.id, order.owner, price, qty)
        else:
            raise MatchingError(f"command {index}: unknown operation")

    def execute(self, caller: bytes | None, book: int, commands: bytes,
                budget: int = (1 << 64) - 1) -> tuple[bytes, int, int]:
        """Run 32-byte commands on one book, all or nothing: (events, fills, other work units).

        Work units are fills, levels touched and orders walked (self-trade cancels, a fill-or-kill's
        check); past ``budget`` of them the call fails and is undone.
        """
        bi = self._book(book, caller)
        if len(commands) % 32:
            raise MatchingError("commands must be whole 32-byte words")
        before = self.serialize()
        self._events, self._fills, self._levels, self._budget = [], 0, 0, budget
        try:
            for index in range(len(commands) // 32):
                self._command(bi, commands[32 * index:32 * index + 32], index)
        except MatchingError:
            self._restore(before)
            raise
        except _OverBudget:
            self._restore(before)
            raise MatchingError(f"work budget exceeded ({budget} units)") from None
        return b"".join(self._events), self._fills, self._levels

    # -- call auction --------------------------------------------------------

    def clearing_price(self, book: int) -> tuple[int, int]:
        """(price, volume): max volume, then min imbalance, then highest if all have excess demand, else lowest."""
        levels = self.books[self._book(book, None)].levels
        bids, asks = levels[BUY], levels[SELL]
        if not bids or not asks:
            return 0, 0
        candidates = sorted({level.price for level in bids} | {level.price for level in asks})
        scored = []
        for price in candidates:
            demand = sum(level.total for level in bids if level.price >= price)
            supply = sum(level.total for level in asks if level.price <= price)
            scored.append((price, min(demand, supply), abs(demand - supply), demand > supply))
        volume = max(entry[1] for entry in scored)
        if volume == 0:
            return 0, 0
        imbalance = min(entry[2] for entry in scored if entry[1] == volume)
        tied = [entry for entry in scored if entry[1] == volume and entry[2] == imbalance]
        if all(entry[3] for entry in tied):
            return tied[-1][0], volume
        return tied[0][0], volume

    def run_auction(self, caller: bytes | None, book: int, cancel_rest: bool,
                    budget: int = (1 << 64) - 1) -> tuple[bytes, int, int]:
        bi = self._book(book, caller)
        target = self.books[bi]
        if not target.auction:
            raise MatchingError(f"book {book} is not a call-auction book")
        before = self.serialize()
        self._events, self._fills, self._levels, self._budget = [], 0, 0, budget
        try:
            self._auction(bi, book, cancel_rest)
        except _OverBudget:
            self._restore(before)
            raise MatchingError(f"work budget exceeded ({budget} units)") from None
        return b"".join(self._events), self._fills, self._levels

    def _auction(self, bi: int, book: int, cancel_rest: bool) -> None:
        target = self.books[bi]
        price, _ = self.clearing_price(book)
        bids, asks = target.levels[BUY], target.levels[SELL]
        if price:
            while bids and asks and bids[-1].price >= price and asks[-1].price <= price:
                buy, sell = bids[-1].orders[0], asks[-1].orders[0]
                filled = min(buy.qty, sell.qty)
                self._spend(True)
                self._spend(False)
                self._emit(EV_FILL, 2, buy.id, sell.id, buy.owner, sell.owner, price, filled)
                for order in (buy, sell):
                    if filled == order.qty:
                        self._remove(bi, order)
                    else:
                        order.qty -= filled
        if cancel_rest:
            for side in (BUY, SELL):
                while target.levels[side]:
                    order = target.levels[side][-1].orders[0]
                    self._spend(False)
                    self._emit(EV_CANCEL, side, order.id, R_AUCTION_END, order.owner, 0, order.price, order.qty)
                    self._remove(bi, order)

    # -- queries -------------------------------------------------------------

    def best(self, book: int) -> tuple[int, int, int, int]:
        levels = self.books[self._book(book, None)].levels
        out = [0, 0, 0, 0]
        for side in (BUY, SELL):
            if levels[side]:
                out[2 * side], out[2 * side + 1] = levels[side][-1].price, levels[side][-1].total
        return out[0], out[1], out[2], out[3]

    def depth(self, book: int, side: int, count: int) -> list[tuple[int, int, int]]:
        if side not in (BUY, SELL):
            raise MatchingError("side must be 0 (buy) or 1 (sell)")
        levels = self.books[self._book(book, None)].levels[side]
        return [(level.price, level.total, len(level.orders)) for level in reversed(levels[-count:] if count else [])]

    def order(self, book: int, order_id: int) -> tuple[int, int, int, int] | None:
        order = self._find(self._book(book, None), order_id)
        return None if order is None else (order.side, order.price, order.qty, order.owner)

    # -- serialisation and the undo log --------------------------------------

    def serialize(self) -> bytes:
        out = [b"SME1", self.next_id.to_bytes(8, "big"), len(self.books).to_bytes(4, "big")]
        for book in self.books:
            out += [book.operator, bytes([book.stp, int(book.auction)])]
            for side in (BUY, SELL):
                out.append(len(book.levels[side]).to_bytes(4, "big"))
                for level in reversed(book.levels[side]):
                    out += [level.price.to_bytes(8, "big"), len(level.orders).to_bytes(4, "big")]
                    for order in level.orders:
                        out += [order.id.to_bytes(8, "big"), order.owner.to_bytes(8, "big"),
                                order.qty.to_bytes(8, "big")]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceEngine:
        engine = cls()
        engine._restore(bytes(data))
        return engine

    def _restore(self, data: bytes) -> None:
        """Replace the state with a serialisation's (checked as strictly as the C engine checks it)."""
        def fail() -> MatchingError:
            return MatchingError("malformed engine serialisation")

        if len(data) < 16 or data[:4] != b"SME1":
            raise fail()
        next_id = int.from_bytes(data[4:12], "big")
        nbooks = int.from_bytes(data[12:16], "big")
        if next_id == 0 or nbooks > MAX_BOOKS:
            raise fail()
        books: list[_Book] = []
        orders: dict[int, tuple[int, _Order]] = {}
        offset = 16

        def take(n: int) -> bytes:
            nonlocal offset
            if offset + n > len(data):
                raise fail()
            chunk = data[offset:offset + n]
            offset += n
            return chunk

        for bi in range(nbooks):
            head = take(22)
            if head[20] > STP_CANCEL_BOTH or head[21] > 1:
                raise fail()
            book = _Book(head[:20], head[20], bool(head[21]))
            for side in (BUY, SELL):
                best_first: list[_Level] = []
                for _ in range(int.from_bytes(take(4), "big")):
                    chunk = take(12)
                    price, count = int.from_bytes(chunk[:8], "big"), int.from_bytes(chunk[8:], "big")
                    if not 1 <= price <= MAX_PRICE or count == 0 or (
                        best_first and (price >= best_first[-1].price if side == BUY
                                        else price <= best_first[-1].price)):
                        raise fail()
                    level = _Level(price)
                    for _ in range(count):
                        chunk = take(24)
                        order_id, owner, qty = (int.from_bytes(chunk[i:i + 8], "big") for i in (0, 8, 16))
                        if not 0 < order_id < next_id or not 1 <= qty <= MAX_QTY or order_id in orders:
                            raise fail()
                        order = _Order(order_id, owner, side, price, qty)
                        level.orders.append(order)
                        orders[order_id] = (bi, order)
                    best_first.append(level)
                book.levels[side].extend(reversed(best_first))
            books.append(book)
        if offset != len(data):
            raise fail()
        self.books, self.next_id, self.orders = books, next_id, orders

    def checkpoint(self) -> int:
        self._log.append(self.serialize())
        return len(self._log) - 1

    def rollback(self, position: int) -> None:
        if not 0 <= position < len(self._log):
            raise MatchingError(f"no checkpoint at {position}")
        self._restore(self._log[position])
        del self._log[position:]

    def clear_log(self) -> None:
        self._log.clear()

    def set_journal(self, on: bool) -> None:
        """Nothing to switch: the reference copies the state at each checkpoint."""
