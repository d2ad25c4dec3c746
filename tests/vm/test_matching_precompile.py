"""The matching precompile through real blocks: the fast path, a second importing node and py-evm's
reference path agree on every root; reverted frames leave nothing in the engine; the digest is in the
state; a restarted node continues from the database; bad input reverts with a reason and charges gas."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth_abi import decode, encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.compiler import load_artifact
from tests.vm.test_equivalence import OPERATOR, OPERATOR_ADDRESS, Chains, _contract_address, _selector, _sign
from vm.matching import NativeEngine
from vm.matching import state as matching_state
from vm.matching.codec import decode_events, place
from vm.matching.precompile import GAS_CALL, MATCHING_ADDRESS
from vm.matching.reference import BUY, EV_FILL, LIMIT, SELL

PROBE = _contract_address(OPERATOR.address, 0)


def call(signature: str, types: list[str], values: list[object]) -> bytes:
    return _selector(signature.encode()) + encode(types, values)


class Session:
    """Chains plus the operator's nonce, and a native engine fed the same commands (the expectation)."""

    def __init__(self) -> None:
        self.chains = Chains()
        self.nonce = 0
        self.expected = NativeEngine()

    def send(self, *payloads: tuple[bytes, bytes], gas: int = 2_000_000):
        raws = []
        for to, data in payloads:
            raws.append(_sign(OPERATOR, self.nonce, to, data, gas=gas))
            self.nonce += 1
        return self.chains.apply(raws)

    def deploy_probe(self) -> None:
        built = self.send((None, load_artifact("MatchingProbe").bytecode), gas=3_000_000)  # type: ignore[arg-type]
        assert statuses(built)[0] == 1
        self.expected.create_book(PROBE, 0, False)

    def digest(self, chain=None) -> bytes:
        state = (chain or self.chains.builder).get_vm().state
        return state.get_storage(MATCHING_ADDRESS, 0).to_bytes(32, "big")

    def probe_place(self, owner: int, side: int, price: int, qty: int, *, revert: bool = False):
        name = "placeThenRevert" if revert else "place"
        return self.send((PROBE, call(f"{name}(uint64,uint8,uint64,uint64)", ["uint64", "uint8", "uint64", "uint64"],
                                      [owner, side, price, qty])))


def statuses(built) -> list[int]:
    """Each receipt's status (a post-Byzantium receipt keeps it in the state-root field)."""
    return [1 if r.state_root == b"\x01" else 0 for r in built.receipts]


def roots(chains: Chains) -> set[bytes]:
    return {c.get_canonical_head().state_root for c in (chains.builder, chains.importer, chains.reference)}


@pytest.fixture
def session() -> Session:
    s = Session()
    s.deploy_probe()
    return s


def test_direct_calls_commit_the_engine_digest_on_all_paths() -> None:
    s = Session()
    book_call = call("createBook(uint8,bool)", ["uint8", "bool"], [0, False])
    place_sig = "place(uint32,uint64,uint8,uint8,uint64,uint64)"
    types = ["uint32", "uint64", "uint8", "uint8", "uint64", "uint64"]
    built = s.send((MATCHING_ADDRESS, book_call),
                   (MATCHING_ADDRESS, call(place_sig, types, [1, 1, SELL, LIMIT, 100, 5])),
                   (MATCHING_ADDRESS, call(place_sig, types, [1, 2, BUY, LIMIT, 101, 3])))
    assert statuses(built) == [1, 1, 1]
    words = decode(["uint256[]"], built.computations[2].output)[0]
    events = decode_events(b"".join(w.to_bytes(32, "big") for w in words))
    assert [(e.a, e.b, e.price, e.qty) for e in events if e.kind == EV_FILL] == [(2, 1, 100, 3)]
    s.expected.create_book(OPERATOR_ADDRESS, 0, False)
    s.expected.execute(OPERATOR_ADDRESS, 1, place(1, SELL, LIMIT, 100, 5) + place(2, BUY, LIMIT, 101, 3))
    expected = hashlib.sha256(s.expected.serialize()).digest()
    assert s.digest() == s.digest(s.chains.importer) == s.digest(s.chains.reference) == expected
    assert len(roots(s.chains)) == 1
    state = s.chains.builder.get_vm().state
    assert state.get_nonce(MATCHING_ADDRESS) == 1
    assert state.matching_engine().best(1) == (0, 0, 100, 2)


def test_match_then_revert_leaves_no_trace(session: Session) -> None:
    session.probe_place(1, SELL, 100, 5)
    before = session.digest()
    built = session.probe_place(2, BUY, 100, 3, revert=True)
    assert statuses(built)[0] == 0
    assert session.digest() == before
    state = session.chains.builder.get_vm().state
    assert state.matching_engine().best(1) == (0, 0, 100, 5)
    assert len(roots(session.chains)) == 1


def test_a_reverted_child_frame_is_undone_but_its_parent_is_kept(session: Session) -> None:
    session.probe_place(1, SELL, 100, 5)
    sig = "childRevertsThenPlace(uint64,uint8,uint64,uint64,uint64)"
    built = session.send((PROBE, call(sig, ["uint64", "uint8", "uint64", "uint64", "uint64"], [2, BUY, 100, 4, 1])))
    assert statuses(built)[0] == 1
    session.expected.execute(PROBE, 1, place(1, SELL, LIMIT, 100, 5))
    session.expected.execute(PROBE, 1, place(2, BUY, LIMIT, 100, 4))  # the child's order took id 2 ...
    engine = session.chains.builder.get_vm().state.matching_engine()
    assert engine.best(1) == (0, 0, 100, 4)  # ... but only the parent's fill of 1 remains
    assert engine.next_id == 3  # the child's id was given back with the rest of its changes
    assert len(roots(session.chains)) == 1


def test_reverted_and_kept_in_one_block(session: Session) -> None:
    sig = "place(uint64,uint8,uint64,uint64)"
    types = ["uint64", "uint8", "uint64", "uint64"]
    built = session.send((PROBE, call(sig, types, [1, SELL, 100, 5])),
                         (PROBE, call("placeThenRevert(uint64,uint8,uint64,uint64)", types, [2, BUY, 100, 5])),
                         (PROBE, call(sig, types, [3, BUY, 99, 2])))
    assert statuses(built) == [1, 0, 1]
    session.expected.execute(PROBE, 1, place(1, SELL, LIMIT, 100, 5))
    session.expected.execute(PROBE, 1, place(3, BUY, LIMIT, 99, 2))
    assert session.digest() == hashlib.sha256(session.expected.serialize()).digest()
    assert len(roots(session.chains)) == 1


def test_restart_continues_from_the_database(session: Session) -> None:
    session.probe_place(1, SELL, 100, 5)
    session.probe_place(1, SELL, 101, 5)
    digest = session.digest()
    # A node restarted: a new chain object on the same database, nothing in memory.
    matching_state.clear_caches()
    kv = dict(session.chains.builder.chaindb.db.wrapped_db.kv_store)
    assert kv[matching_state.engine_key(digest)]
    session.chains.builder = type(session.chains.builder)(AtomicDB(MemoryDB(kv)))
    engine = session.chains.builder.get_vm().state.matching_engine()
    assert hashlib.sha256(engine.serialize()).digest() == digest
    built = session.probe_place(2, BUY, 101, 7)
    assert statuses(built)[0] == 1
    assert session.chains.builder.get_vm().state.matching_engine().best(1) == (0, 0, 101, 3)
    assert len(roots(session.chains)) == 1


def test_missing_engine_state_is_an_error_not_a_silent_empty_book(session: Session) -> None:
    session.probe_place(1, SELL, 100, 5)
    digest = session.digest()
    matching_state.clear_caches()
    kv = dict(session.chains.builder.chaindb.db.wrapped_db.kv_store)
    del kv[matching_state.engine_key(digest)]
    chain = type(session.chains.builder)(AtomicDB(MemoryDB(kv)))
    with pytest.raises(matching_state.MatchingStateError, match="no matching-engine state"):
        chain.get_vm().state.matching_engine()


RAW = "raw(bytes)"
PLACE6 = ["uint256"] * 6  # wide types, so that out-of-range values can be encoded


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xde\xad\xbe\xef", "unknown selector 0xdeadbeef"),
        (b"\x01\x02", "shorter than a selector"),
        (call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [1, 1, 0, 0, 100, 1])[:-1], "expected 192"),
        (call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [1, 1, 0, 0, 0, 1]), "price out of range"),
        (call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [1, 1, 0, 0, 1 << 41, 1]),
         "price out of range"),
        (call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [1, 1, 0, 0, 5, 1 << 41]),
         "quantity out of range"),
        (call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [1, 1 << 64, 0, 0, 5, 1]),
         "owner out of range"),
        (call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [7, 1, 0, 0, 100, 1]), "unknown book 7"),
        (call("cancel(uint32,uint64)", ["uint256", "uint256"], [1 << 33, 1]), "book out of range"),
        (call("submit(uint32,uint256[])", ["uint32", "uint256[]"], [1, [1 << 255]]), "command 0"),
    ],
)
def test_bad_input_reverts_with_a_reason_and_charges_gas(session: Session, data: bytes, reason: str) -> None:
    before = session.digest()
    built = session.send((PROBE, call(RAW, ["bytes"], [data])))
    assert statuses(built)[0] == 1  # the probe survives its failed call
    ok, output = decode(["bool", "bytes"], built.computations[0].output)
    assert not ok
    assert output[:4] == bytes.fromhex("08c379a0")
    assert reason in decode(["string"], output[4:])[0]
    child = built.computations[0].children[0]
    assert child.is_error and child.get_gas_used() >= GAS_CALL
    assert session.digest() == before
    assert len(roots(session.chains)) == 1


def test_other_callers_cannot_touch_a_probe_book(session: Session) -> None:
    data = call("cancel(uint32,uint64)", ["uint32", "uint64"], [1, 1])
    built = session.send((MATCHING_ADDRESS, data))
    assert statuses(built)[0] == 0
    assert b"not its operator" in built.computations[0].output


def test_delegatecall_is_refused(session: Session) -> None:
    """By DELEGATECALL the probe's caller (the operator's EOA) would be the engine's msg.sender."""
    session.send((MATCHING_ADDRESS, call("createBook(uint8,bool)", ["uint8", "bool"], [0, False])))
    before = session.digest()
    data = call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [2, 1, 0, 0, 100, 1])
    built = session.send((PROBE, call("rawDelegate(bytes)", ["bytes"], [data])))
    ok, output = decode(["bool", "bytes"], built.computations[0].output)
    assert not ok and b"not DELEGATECALL" in output
    assert session.digest() == before


def test_work_beyond_the_gas_left_fails_out_of_gas_and_is_undone(session: Session) -> None:
    session.send((MATCHING_ADDRESS, call("createBook(uint8,bool)", ["uint8", "bool"], [0, False])))
    place_sig = "place(uint32,uint64,uint8,uint8,uint64,uint64)"
    session.send(*((MATCHING_ADDRESS, call(place_sig, PLACE6, [2, 1, SELL, LIMIT, 100 + i, 1])) for i in range(40)))
    before = session.digest()
    sweep = call(place_sig, PLACE6, [2, 2, BUY, 1, 0, 40])
    # 40 levels and 40 fills (80 work units) need 52,000 gas on top of the call's 3,200. With 10,000 gas
    # left the budget (33 units) stops the engine early; with 48,000 the work is done but not paid for.
    for gas, error in ((21_000 + 3_200 + 10_000 + 2_000, "work beyond the gas left"),
                       (21_000 + 3_200 + 48_000 + 2_000, "Reason: matching work")):
        built = session.send((MATCHING_ADDRESS, sweep), gas=gas)
        assert statuses(built) == [0]
        assert error in str(built.computations[0].error)
        assert session.digest() == before
        assert session.chains.builder.get_vm().state.matching_engine().best(2) == (0, 0, 100, 1)
    built = session.send((MATCHING_ADDRESS, sweep), gas=200_000)
    assert statuses(built) == [1]
    assert session.chains.builder.get_vm().state.matching_engine().best(2) == (0, 0, 0, 0)
    assert len(roots(session.chains)) == 1


def test_reads_depth_best_and_digest_and_no_writes_in_a_static_call(session: Session) -> None:
    sig = "place(uint64,uint8,uint64,uint64)"
    types = ["uint64", "uint8", "uint64", "uint64"]
    session.send(*((PROBE, call(sig, types, args)) for args in
                   ([1, SELL, 101, 2], [2, SELL, 101, 3], [3, SELL, 103, 1], [4, BUY, 99, 7])))

    def static(data: bytes) -> tuple[bool, bytes]:
        built = session.send((PROBE, call("rawStatic(bytes)", ["bytes"], [data])))
        return decode(["bool", "bytes"], built.computations[0].output)

    ok, output = static(call("depth(uint32,uint8,uint32)", ["uint32", "uint8", "uint32"], [1, SELL, 5]))
    assert ok
    rows = [((w >> 128), (w >> 64) & (2**64 - 1), w & (2**64 - 1)) for w in decode(["uint256[]"], output)[0]]
    assert rows == [(101, 5, 2), (103, 1, 1)]
    ok, output = static(call("bestBidAsk(uint32)", ["uint32"], [1]))
    assert ok and list(decode(["uint64"] * 4, output)) == [99, 7, 101, 5]
    ok, output = static(call("digest()", [], []))
    assert ok and output == session.digest()  # nothing changed since the last block
    ok, output = static(call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [1, 1, 0, 0, 100, 1]))
    assert not ok and b"a write in a static call" in output
    ok, output = static(call("depth(uint32,uint8,uint32)", ["uint32", "uint8", "uint32"], [1, 0, 1001]))
    assert not ok and b"at most 1000 levels" in output


SIGNATURES = {
    "createBook(uint8,bool)": 2, "place(uint32,uint64,uint8,uint8,uint64,uint64)": 6, "cancel(uint32,uint64)": 2,
    "amend(uint32,uint64,uint64,uint64)": 4, "submit(uint32,uint256[])": 3, "runAuction(uint32,bool)": 2,
    "bestBidAsk(uint32)": 1, "depth(uint32,uint8,uint32)": 3, "digest()": 0}
SELECTORS = [_selector(s.encode()) for s in SIGNATURES]
ARITY = dict(zip(SELECTORS, SIGNATURES.values(), strict=True))


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


@st.composite
def calldata(draw: Any) -> bytes:
    """Mostly well-shaped calls with small or extreme words, sometimes cut short or lengthened."""
    selector = draw(st.sampled_from(SELECTORS + [b"\x00\x00\x00\x00", b"\xff"]))
    small = st.integers(0, 6)
    edge = st.sampled_from([0, 1, 2**32, 2**40, 2**64 - 1, 2**64, 2**255, 2**256 - 1])
    count = ARITY.get(selector, 0) if draw(st.integers(0, 4)) else draw(st.integers(0, 7))
    tiny = st.integers(0, 2)  # valid for most fields: books 1-2, sides, bools, prices and quantities
    words = [_word(draw(st.one_of(tiny, tiny, tiny, small, edge))) for _ in range(count)]
    if selector == SELECTORS[4] and draw(st.booleans()):
        commands = [bytes([draw(st.integers(0, 4)), draw(st.integers(0, 2)), draw(st.integers(0, 5))]) + bytes(5)
                    + b"".join(draw(st.sampled_from([1, 2, 100, 0, 2**40])).to_bytes(8, "big") for _ in range(3))
                    for _ in range(draw(st.integers(0, 6)))]
        words = [_word(draw(st.integers(1, 3))), _word(64), _word(len(commands)), *commands]
    data = selector + b"".join(words)
    cut = draw(st.integers(0, 3))
    return data[:len(data) - cut] if cut and draw(st.booleans()) else data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(calldata(), min_size=1, max_size=8))
def test_any_calldata_is_answered_and_a_failure_changes_nothing(calls: list[bytes]) -> None:
    """Random calls into a real state: each succeeds or fails as a VM error; a failure leaves the engine as it was."""
    from eth.exceptions import VMError
    from eth.vm.message import Message
    from eth.vm.transaction_context import BaseTransactionContext

    chain = Chains().builder
    state = chain.get_vm().state
    engine = state.matching_engine()
    engine.create_book(OPERATOR_ADDRESS, 0, False)
    engine.create_book(OPERATOR_ADDRESS, 2, True)
    for data in calls:
        before = engine.serialize()
        message = Message(gas=2_000_000, to=MATCHING_ADDRESS, sender=OPERATOR_ADDRESS, value=0, data=data, code=b"")
        context = BaseTransactionContext(gas_price=0, origin=OPERATOR_ADDRESS)
        computation = state.computation_class.apply_message(state, message, context)
        if computation.is_error:
            assert isinstance(computation.error, VMError)
            assert engine.serialize() == before
        else:
            assert computation.get_gas_used() >= GAS_CALL


def test_reads_share_the_committed_engine_and_never_copy_it(session: Session) -> None:
    """A state that only reads gets answers from the shared engine; its first write makes its own copy."""
    from eth.vm.message import Message
    from eth.vm.transaction_context import BaseTransactionContext

    session.probe_place(1, SELL, 100, 5)
    state = session.chains.builder.get_vm().state

    def run(data: bytes, sender: bytes = OPERATOR_ADDRESS) -> Any:
        message = Message(gas=1_000_000, to=MATCHING_ADDRESS, sender=sender, value=0, data=data, code=b"")
        context = BaseTransactionContext(gas_price=0, origin=OPERATOR_ADDRESS)
        return state.computation_class.apply_message(state, message, context)

    best = run(call("bestBidAsk(uint32)", ["uint32"], [1]))
    assert list(decode(["uint64"] * 4, best.output)) == [0, 0, 100, 5]
    assert state._matching is None  # no copy for a read
    shared = state.matching_reader()
    placed = run(call("place(uint32,uint64,uint8,uint8,uint64,uint64)", PLACE6, [1, 2, BUY, 0, 100, 2]),
                 sender=PROBE)
    assert not placed.is_error
    assert state._matching is not None and state.matching_reader() is state._matching
    assert shared.best(1) == (0, 0, 100, 5)  # the shared engine was not touched
    best = run(call("bestBidAsk(uint32)", ["uint32"], [1]))
    assert list(decode(["uint64"] * 4, best.output)) == [0, 0, 100, 3]  # reads now see the state's own


def test_a_transaction_cut_by_the_build_deadline_leaves_nothing_in_the_engine(session: Session) -> None:
    """The proposer's build budget stops a transaction inside its execution and reverts it to a snapshot."""
    import time

    from vm.block_builder import build_block
    from vm.block_import import execute_block

    session.probe_place(1, SELL, 100, 5)
    types = ["uint64", "uint8", "uint64", "uint64"]
    first = _sign(OPERATOR, session.nonce, PROBE, call("place(uint64,uint8,uint64,uint64)", types,
                                                          [2, SELL, 101, 5]))
    heavy = _sign(OPERATOR, session.nonce + 1, PROBE, call("placeThenSpin(uint64,uint8,uint64,uint64)", types,
                                                           [3, BUY, 101, 7]), gas=25_000_000)
    chains = session.chains
    parent = chains.builder.get_canonical_head()
    started = time.perf_counter()
    built = build_block(chains.builder, parent, chains.decode([first, heavy]), timestamp=parent.timestamp + 1,
                        coinbase=b"\x0c" * 20, deadline=started + 0.3)
    assert len(built.block.transactions) == 1 and len(built.too_heavy) == 1
    session.expected.execute(PROBE, 1, place(1, SELL, LIMIT, 100, 5) + place(2, SELL, LIMIT, 101, 5))
    state = chains.builder.get_vm(built.block.header).state
    expected = hashlib.sha256(session.expected.serialize()).digest()
    assert state.get_storage(MATCHING_ADDRESS, 0).to_bytes(32, "big") == expected
    # a validator re-executing the block, and py-evm's reference path, get the same roots
    executed = execute_block(chains.importer, chains.importer.get_canonical_head(), chains._fresh(built.block))
    imported = chains.reference.import_block(chains._fresh(built.block)).imported_block
    assert executed.block.hash == imported.hash == built.block.hash
