"""The matching engine as a stateful precompile at :data:`MATCHING_ADDRESS`.

Solidity calls it through ``contracts/src/matching/IMatching.sol``; calldata is
that interface's ABI. Each call runs against the engine of the calling state
(:class:`vm.matching.state.MatchingState`), which undoes the call's changes if
the frame or an ancestor reverts and commits the engine's digest into the
world state when the block is persisted.

Gas is charged by work done, so that a block's gas limit bounds its matching
work: a base per call, one price per command, and after the call one per
fill and one per other work unit (a price level touched, an order walked by
a fill-or-kill check or cancelled by self-trade prevention or an auction's
end). The engine gets the gas left as a budget of work units and stops, undone,
when the call could not pay for more: a call never does work it cannot pay for. Bad input (an unknown
selector, short or malformed calldata, a value out of its type's range, an
unknown book, a book of another operator, a write in a static call, a DELEGATECALL or CALLCODE) reverts
with an ``Error(string)`` naming the fault, after the base charge.
"""
from __future__ import annotations

from typing import Any

from eth.exceptions import OutOfGas, Revert
from eth_abi import encode
from eth_typing import Address
from eth_utils import keccak

from vm.matching import MatchingError, state_digest

#: The precompile's fixed address (docs/matching.md).
MATCHING_ADDRESS = Address(bytes.fromhex("0000000000000000000000000000000000000a11"))

GAS_CALL = 2_000
GAS_CREATE_BOOK = 50_000
GAS_COMMAND = 1_200
GAS_FILL = 1_000
GAS_LEVEL = 300
GAS_READ = 1_000
GAS_DEPTH_LEVEL = 100
GAS_DIGEST_WORD = 12
#: Most commands in one call (a DoS bound: an engine call runs without a clock).
MAX_COMMANDS_PER_CALL = 4_096
#: Most levels one depth query returns.
MAX_DEPTH_LEVELS = 1_000

_ERROR_SELECTOR = keccak(text="Error(string)")[:4]


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


SEL_CREATE_BOOK = _selector("createBook(uint8,bool)")
SEL_PLACE = _selector("place(uint32,uint64,uint8,uint8,uint64,uint64)")
SEL_CANCEL = _selector("cancel(uint32,uint64)")
SEL_AMEND = _selector("amend(uint32,uint64,uint64,uint64)")
SEL_SUBMIT = _selector("submit(uint32,uint256[])")
SEL_RUN_AUCTION = _selector("runAuction(uint32,bool)")
SEL_BEST = _selector("bestBidAsk(uint32)")
SEL_DEPTH = _selector("depth(uint32,uint8,uint32)")
SEL_DIGEST = _selector("digest()")

_WRITES = {SEL_CREATE_BOOK, SEL_PLACE, SEL_CANCEL, SEL_AMEND, SEL_SUBMIT, SEL_RUN_AUCTION}


class BadCall(Exception):
    """Calldata the precompile refuses; the message becomes the revert reason."""


def _fail(computation: Any, message: str) -> None:
    data = _ERROR_SELECTOR + encode(["string"], [f"matching: {message}"])
    computation.output = data
    raise Revert(data)


def _words(data: bytes, count: int, name: str) -> list[int]:
    if len(data) != 32 * count:
        raise BadCall(f"{name}: expected {32 * count} bytes of arguments, got {len(data)}")
    return [int.from_bytes(data[i:i + 32], "big") for i in range(0, len(data), 32)]


def _uint(value: int, bits: int, what: str) -> int:
    if value >> bits:
        raise BadCall(f"{what} out of range for uint{bits}")
    return value


def _bool(value: int, what: str) -> bool:
    if value > 1:
        raise BadCall(f"{what} is not a bool")
    return bool(value)


def _events_output(events: bytes) -> bytes:
    """``abi.encode(uint256[])`` of the events: each 64-byte record is two words already."""
    return (32).to_bytes(32, "big") + (len(events) // 32).to_bytes(32, "big") + events


def _command_word(side: int, kind: int, op: int, a: int, price: int, qty: int) -> bytes:
    return bytes([op, side, kind]) + bytes(5) + a.to_bytes(8, "big") + price.to_bytes(8, "big") + qty.to_bytes(8, "big")


def matching_precompile(computation: Any) -> Any:
    """Dispatch one call; see the module docstring for gas and errors."""
    computation.consume_gas(GAS_CALL, reason="matching call")
    data = bytes(computation.msg.data)
    try:
        if len(data) < 4:
            raise BadCall("calldata shorter than a selector")
        selector, args = data[:4], data[4:]
        if selector in _WRITES and computation.msg.is_static:
            raise BadCall("a write in a static call")
        if computation.msg.storage_address != MATCHING_ADDRESS:
            # DELEGATECALL or CALLCODE: msg.sender would be the calling contract's caller, so a contract
            # could act as whoever calls it on that caller's books.
            raise BadCall("call the engine with CALL or STATICCALL, not DELEGATECALL or CALLCODE")
        state = computation.state
        engine = state.matching_engine() if selector in _WRITES else state.matching_reader()
        caller = bytes(computation.msg.sender)
        if selector == SEL_SUBMIT:
            if len(args) < 96:
                raise BadCall("submit: calldata too short")
            book = _uint(int.from_bytes(args[:32], "big"), 32, "book")
            offset = int.from_bytes(args[32:64], "big")
            count = int.from_bytes(args[64:96], "big")
            if offset != 64:
                raise BadCall("submit: commands must follow the book (offset 64)")
            if count > MAX_COMMANDS_PER_CALL:
                raise BadCall(f"submit: at most {MAX_COMMANDS_PER_CALL} commands per call, got {count}")
            if len(args) != 96 + 32 * count:
                raise BadCall(f"submit: {count} commands need {96 + 32 * count} bytes, got {len(args)}")
            computation.consume_gas(GAS_COMMAND * count, reason="matching commands")
            _run(computation, engine.execute, caller, book, args[96:])
        elif selector == SEL_PLACE:
            book, owner, side, kind, price, qty = _words(args, 6, "place")
            _uint(book, 32, "book")
            _uint(owner, 64, "owner")
            _uint(side, 8, "side")
            _uint(kind, 8, "order type")
            _uint(price, 64, "price")
            _uint(qty, 64, "quantity")
            computation.consume_gas(GAS_COMMAND, reason="matching command")
            _run(computation, engine.execute, caller, book, _command_word(side, kind, 1, owner, price, qty))
        elif selector == SEL_CANCEL:
            book, order_id = _words(args, 2, "cancel")
            _uint(book, 32, "book")
            _uint(order_id, 64, "order id")
            computation.consume_gas(GAS_COMMAND, reason="matching command")
            _run(computation, engine.execute, caller, book, _command_word(0, 0, 2, order_id, 0, 0))
        elif selector == SEL_AMEND:
            book, order_id, price, qty = _words(args, 4, "amend")
            _uint(book, 32, "book")
            _uint(order_id, 64, "order id")
            _uint(price, 64, "price")
            _uint(qty, 64, "quantity")
            computation.consume_gas(GAS_COMMAND, reason="matching command")
            _run(computation, engine.execute, caller, book, _command_word(0, 0, 3, order_id, price, qty))
        elif selector == SEL_RUN_AUCTION:
            book, cancel_rest = _words(args, 2, "runAuction")
            _uint(book, 32, "book")
            _run(computation, engine.run_auction, caller, book, _bool(cancel_rest, "cancelRest"))
        elif selector == SEL_CREATE_BOOK:
            stp, auction = _words(args, 2, "createBook")
            _uint(stp, 8, "stp")
            computation.consume_gas(GAS_CREATE_BOOK, reason="matching book")
            book = engine.create_book(caller, stp, _bool(auction, "auction"))
            computation.output = book.to_bytes(32, "big")
        elif selector == SEL_BEST:
            (book,) = _words(args, 1, "bestBidAsk")
            computation.consume_gas(GAS_READ, reason="matching read")
            computation.output = b"".join(v.to_bytes(32, "big") for v in engine.best(_uint(book, 32, "book")))
        elif selector == SEL_DEPTH:
            book, side, levels = _words(args, 3, "depth")
            _uint(book, 32, "book")
            _uint(side, 8, "side")
            if levels > MAX_DEPTH_LEVELS:
                raise BadCall(f"depth: at most {MAX_DEPTH_LEVELS} levels, got {levels}")
            computation.consume_gas(GAS_READ + GAS_DEPTH_LEVEL * levels, reason="matching depth")
            rows = engine.depth(book, side, levels)
            words = b"".join(((price << 128) | (qty << 64) | count).to_bytes(32, "big") for price, qty, count in rows)
            computation.output = (32).to_bytes(32, "big") + len(rows).to_bytes(32, "big") + words
        elif selector == SEL_DIGEST:
            _words(args, 0, "digest")
            serialised = engine.serialize()
            computation.consume_gas(GAS_READ + GAS_DIGEST_WORD * (len(serialised) // 32), reason="matching digest")
            computation.output = state_digest(engine)
        else:
            raise BadCall(f"unknown selector 0x{selector.hex()}")
    except (BadCall, MatchingError) as exc:
        _fail(computation, str(exc))
    return computation


def _run(computation: Any, call: Any, caller: bytes, book: int, argument: Any) -> None:
    """An engine call within the work the gas left can pay for, then the gas for the work it did."""
    budget = computation.get_gas_remaining() // min(GAS_FILL, GAS_LEVEL)
    try:
        events, fills, levels = call(caller, book, argument, budget)
    except MatchingError as exc:
        if str(exc).startswith("work budget exceeded"):
            raise OutOfGas(f"matching work beyond the gas left ({exc})") from None
        raise
    computation.consume_gas(GAS_FILL * fills + GAS_LEVEL * levels, reason="matching work")
    computation.output = _events_output(events)
