"""Compiled segments (vm.segments) against py-evm: templates, jump targets, loops, every gas limit, the caches.

``test_interpreter.py`` runs its edge cases and random programs both through
segments and through the plain loop; these add what only segments have: the
source templates, the JUMPDEST analysis, programs with real loops and
branches, the fallback to stepping at every possible point of running out of
gas, and when code gets compiled.
"""
import pytest
from eth.vm.code_stream import CodeStream
from eth.vm.forks.cancun import CancunVM
from eth.vm.memory import Memory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vm.segments as segments
from tests.vm.test_interpreter import _run
from vm.fork import SettleCancunVM
from vm.interpreter import _EXPRESSIONS, SettleCancunComputation, _fixed_cost_table

UINT256 = st.one_of(
    st.integers(0, 2**256 - 1),
    st.sampled_from([0, 1, 2, 31, 32, 255, 256, 257, 2**255 - 1, 2**255, 2**256 - 2, 2**256 - 1]),
)


def _code_cache() -> dict:
    return _fixed_cost_table(SettleCancunComputation.opcodes)[-1]


@pytest.fixture
def hot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compile from a code's first run."""
    monkeypatch.setattr(segments, "HOT_AFTER_RUNS", 0)


@settings(max_examples=400, deadline=None)
@given(a=UINT256, b=UINT256)
def test_every_source_template_computes_what_its_operator_does(a: int, b: int) -> None:
    assert len(_EXPRESSIONS) >= 14  # ADD SUB MUL DIV SHL SHR LT GT EQ AND OR XOR ISZERO NOT
    for operator, expression in _EXPRESSIONS.items():
        arguments = (a, b) if "{b}" in expression else (a,)
        source = expression.format(a="a", b="b")
        assert eval(source, {"M": 2**256 - 1, "a": a, "b": b}) == operator(*arguments), source


@settings(max_examples=300, deadline=None)
@given(code=st.binary(max_size=200))
def test_jump_destinations_are_py_evms_valid_targets(code: bytes) -> None:
    stream = CodeStream(code)
    expected = {
        position for position in range(len(code)) if code[position] == 0x5B and stream.is_valid_opcode(position)
    }
    assert segments.jump_destinations(code) == expected


def _loop(count: int, body: bytes) -> bytes:
    """A counter from ``count`` down to 0 around ``body`` (which must leave the stack as it found it)."""
    #   0: PUSH1 count   2: JUMPDEST   body   PUSH1 1 SWAP1 SUB DUP1 PUSH1 2 JUMPI   STOP
    return bytes([0x60, count, 0x5B]) + body + bytes([0x60, 0x01, 0x90, 0x03, 0x80, 0x60, 0x02, 0x57, 0x00])


#: Stack-neutral bodies: each pushes as many as it pops.
_BODIES = [
    bytes.fromhex("80600101" + "50"),  # DUP1 PUSH1 1 ADD POP
    bytes.fromhex("3360a01c" + "50"),  # CALLER PUSH1 0xa0 SHR POP (bytes item converted)
    bytes.fromhex("6004355f3515" + "5050"),  # CALLDATALOAD(4) CALLDATALOAD(0) ISZERO POP POP
    bytes.fromhex("8080026000" + "52"),  # DUP1 DUP1 MUL PUSH1 0 MSTORE (a memory op between segments)
    bytes.fromhex("600a" + "6009" + "56" + "fe" + "5b" + "50"),  # a forward jump (to 9) over INVALID
]


@pytest.mark.parametrize("body", _BODIES, ids=range(len(_BODIES)))
def test_loops_give_py_evms_result(body: bytes, hot: None) -> None:
    code = _loop(5, body)
    settle = _run(SettleCancunVM, code, 100_000)
    assert settle == _run(CancunVM, code, 100_000)
    assert not settle[0] and settle[6] == [0]  # the loop ran down to 0 and stopped


def test_running_out_of_gas_at_every_point_gives_py_evms_result(hot: None) -> None:
    """Every gas limit from 0 up to enough: the whole run fits, or stepping fails where py-evm does."""
    code = _loop(3, _BODIES[0] + _BODIES[3])
    enough = 100_000 - _run(CancunVM, code, 100_000)[3]
    for gas in range(enough + 2):
        assert _run(SettleCancunVM, code, gas) == _run(CancunVM, code, gas), gas


@pytest.mark.parametrize(
    "code",
    [
        "6004" + "56" + "5b",  # JUMP to 4: past the end
        "6004" + "56" + "60" + "5b",  # JUMP to 4: a JUMPDEST byte inside PUSH1 data
        "6001" + "6007" + "57" + "00" + "61" + "5b00",  # JUMPI taken to a JUMPDEST byte inside PUSH2 data
        "600135" + "56",  # JUMP to a destination read from the call data
        "6000" + "6005" + "57" + "6000" + "56",  # JUMPI not taken, then JUMP to 0 (not a JUMPDEST)
    ],
    ids=["past end", "into push1 data", "jumpi into push2 data", "dynamic", "not taken then bad"],
)
def test_bad_jumps_raise_py_evms_error(code: str, hot: None) -> None:
    settle = _run(SettleCancunVM, bytes.fromhex(code), 100_000)
    assert settle == _run(CancunVM, bytes.fromhex(code), 100_000)
    assert settle[0] and settle[2] in ("InvalidJumpDestination", "InvalidInstruction")


@pytest.mark.parametrize("items", [1, 1023, 1024])
def test_near_the_stack_limit_a_segment_steps_instead(items: int, hot: None) -> None:
    """``items`` PUSH0s, a JUMPDEST, then DUP1 DUP1 POP POP: it overflows only when it starts at 1023 or more."""
    code = bytes([0x5F]) * items + bytes.fromhex("5b" + "80805050" + "00")
    settle = _run(SettleCancunVM, code, 1_000_000)
    assert settle == _run(CancunVM, code, 1_000_000)
    assert settle[0] == (items >= 1023)


def test_a_long_straight_run_is_split_and_gives_the_same_stack(hot: None) -> None:
    code = bytes.fromhex("6001" * (segments.SEGMENT_LIMIT + 20) + "00")
    settle = _run(SettleCancunVM, code, 1_000_000)
    assert settle == _run(CancunVM, code, 1_000_000)
    assert len(settle[6]) == segments.SEGMENT_LIMIT + 20


def test_code_is_compiled_only_once_it_is_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments, "HOT_AFTER_RUNS", 2)
    code = _loop(2, _BODIES[0]) + b"\x01\x02\x03"  # bytes of its own, so no other test compiled it
    for run in range(1, 5):
        _run(SettleCancunVM, code, 100_000)
        compiled = [segment for segment in _code_cache()[code].segments.values() if segment.run is not None]
        assert _code_cache()[code].runs == run
        assert bool(compiled) == (run > 2), run


def test_the_code_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments, "CODE_LIMIT", 3)
    cache: dict = {}
    for n in range(5):
        segments.code_segments(cache, bytes([n]))
    assert list(cache) == [bytes([2]), bytes([3]), bytes([4])]
    assert segments.code_segments(cache, bytes([4])).runs == 2


def test_a_segment_holds_what_its_table_allows_and_no_more() -> None:
    """PUSH1 1 PUSH1 2 ADD then SLOAD: one segment of three opcodes (fixed gas 9) that ends at the SLOAD."""
    table = _fixed_cost_table(SettleCancunComputation.opcodes)[4]
    code = bytes.fromhex("6001" + "6002" + "01" + "54")
    segment = segments.CodeSegments(code).compile_at(0, table)
    values: list = []
    assert (segment.gas, segment.need, segment.room) == (9, 0, 1022)
    assert segment.run(values, None, Memory()) == 5 and values == [3]
    assert segments.CodeSegments(code).compile_at(5, table) is segments.NO_SEGMENT


def test_a_segment_stops_before_a_memory_opcode_that_grows_memory() -> None:
    """PUSH1 7 PUSH1 0 MSTORE PUSH1 0 MLOAD: inside paid memory it runs whole; else it stops before MSTORE."""
    table = _fixed_cost_table(SettleCancunComputation.opcodes)[4]
    code = bytes.fromhex("6007" + "6000" + "52" + "6000" + "51")
    segment = segments.CodeSegments(code).compile_at(0, table)
    assert segment.gas == 15 and segment.unspent == {4: 9, 7: 3}
    values: list = []
    assert segment.run(values, None, Memory()) == ~4  # memory is empty: the MSTORE must grow it
    assert values == [b"\x07", b"\x00"]  # the stack as it is before the MSTORE
    paid = Memory()
    paid.extend(0, 32)
    values = []
    assert segment.run(values, None, paid) == 8
    assert values == [(7).to_bytes(32, "big")] and paid.read_bytes(0, 32) == (7).to_bytes(32, "big")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(0, 4),
    body=st.lists(
        st.sampled_from(
            _BODIES[:3]
            + [
                bytes.fromhex(op)
                for op in [
                    "6001600201" + "50",
                    "5f5f10" + "50",
                    "60ff60081b" + "50",
                    "7f" + "ff" * 32 + "19" + "50",
                    "60016002" + "9191" + "5050",
                ]
            ]
        ),
        max_size=6,
    ),
    gas=st.sampled_from([100_000, 300, 120]),
)
def test_random_loops_give_py_evms_result(count: int, body: list[bytes], gas: int, hot: None) -> None:
    code = _loop(count, b"".join(body))
    assert _run(SettleCancunVM, code, gas) == _run(CancunVM, code, gas)


@pytest.mark.parametrize("gas", [10, 100, 1_000, 30_000])
def test_a_loop_of_known_jumps_runs_to_py_evms_end(gas: int, hot: None) -> None:
    """JUMPDEST PUSH1 0 JUMP forever: one run takes each opcode once, so the loop goes round until gas runs out."""
    code = bytes.fromhex("5b" + "6000" + "56")
    settle = _run(SettleCancunVM, code, gas)
    assert settle == _run(CancunVM, code, gas)
    assert settle[2] == "OutOfGas"


def test_constant_jumpi_conditions_go_on_in_one_run(hot: None) -> None:
    """JUMPI with a pushed 1 goes on at its JUMPDEST; with a pushed 0 after it (its destination not even checked)."""
    code = bytes.fromhex("6001" + "6006" + "57" + "fe" + "5b" + "6000" + "600e" + "57" + "602a" + "00")
    table = _fixed_cost_table(SettleCancunComputation.opcodes)[4]
    segment = segments.CodeSegments(code).compile_at(0, table)
    values: list = []
    assert segment.run(values, None, Memory()) == 14 and values == [b"\x2a"]  # stops only at STOP
    settle = _run(SettleCancunVM, code, 100_000)
    assert settle == _run(CancunVM, code, 100_000)
    assert not settle[0] and settle[6] == [b"\x2a"]
