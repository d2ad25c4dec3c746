"""Settle's interpreter loop and stack opcodes against py-evm's, on the edge cases.

The official state tests (``test_ethereum_fixtures.py``) cover ordinary code;
these pin the error paths: stack limits, running off the end of the code,
jumps into PUSH data, running out of gas, SSTORE below 2300 gas and inside a
STATICCALL, every branch of SSTORE's net metering and refunds. Random
straight-line programs over the opcodes with their own logic here
(arithmetic, comparison, bitwise, jumps, MLOAD, MSTORE, SHA3, RETURN, SLOAD, SSTORE,
CALLDATALOAD, and PC and GAS after them)
must leave the same stack, gas, refund, storage and error as py-evm's.
"""
import pytest
from eth.chains.base import ChainContext
from eth.consensus.context import ConsensusContext
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.headers import CancunBlockHeader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vm.fork import SettleCancunVM

ADDRESS = b"\x0c" * 20
CALLEE = b"\x0d" * 20
#: Storage the contract has before the run (committed, so these are SSTORE's "original" values).
SEEDED = {1: 5, 2: 7}
#: Call data of every run: 40 bytes, so CALLDATALOAD reads whole words, partial words and past the end.
CALLDATA = bytes(range(1, 41))
CALLEE_CODE = bytes.fromhex("6001600055" + "60006000a0")  # SSTORE(0, 1), LOG0
CASES = {
    "return 42": "602a60005260206000f3",
    "return grows memory": "602a600052" + "6020" + "6030" + "f3",  # 32 bytes from 0x30: memory grows to 0x60
    "return nothing from far away": "6000" + "7f" + "ff" * 32 + "f3",  # size 0: no memory, no charge
    "return past any gas": "6020" + "7f" + "ff" * 32 + "f3",
    "return with one item": "6001f3",
    "push runs off the end": "600161ff",
    "push32 runs off the end": "7f01",
    "dup underflow": "600181",
    "swap underflow": "600190",
    "swap16 with 17 items": "5f" * 17 + "9f" + "00",
    "dup16 underflow": "5f" * 15 + "8f",
    "pop on empty stack": "50",
    "stack overflow by push": "5f" * 1025,
    "stack overflow by dup": "5f" * 1024 + "80",
    "1024 items is fine": "5f" * 1024 + "00",
    "jump into push data": "600456615b0000",
    "jump to a real jumpdest": "6004565b5b6001600055",
    "jumpi taken and not taken": "6001600657005b6000600a575b00",
    "invalid opcode": "fe",
    "undefined opcode": "0c",
    "out of gas in a loop": "5b600056",
    "revert with data": "6020600060003960206000fd",
    "add wraps at 2**256": "7f" + "ff" * 32 + "600101",
    "sub wraps below 0": "6001600003",
    "mul wraps": "7f" + "ff" * 32 + "800200",
    "div by zero is 0": "6000600104",
    "shl and shr by 256 and more": "6001610100" + "1b" + "6001610101" + "1c" + "00",
    "not, iszero, eq, lt, gt": "600019" + "15" + "6000146001106002" + "11" + "00",
    "and, or, xor": "60f0600f16" + "60f0600f17" + "60ff600f18" + "00",
    "binary op with one item": "600101",
    "unary op on empty stack": "15",
    "jump on empty stack": "56",
    "jumpi with one item": "600157",
    "jumpi to a non-jumpdest when not taken": "6000600357" + "00",
    "jump past the end of the code": "61ffff56",
    "mstore then mload inside and past paid memory": "602a600052" + "6000516020510160405200",
    "mstore of a short pushed value": "61abcd6003526000516020511700",
    "mstore straddling the end of paid memory": "602a600052" + "602a600152" + "5900",
    "mload straddling the end of paid memory": "602a600052" + "600151" + "5900",
    "mstore with one item": "600052",
    "mload on empty stack": "51",
    "memory expansion out of gas": "602a63ffffffff52",
    "sha3 of paid memory": "602a600052" + "60206000" + "20" + "00",
    "sha3 past paid memory and of nothing": "60406010" + "20" + "6000610100" + "20" + "5900",
    "sha3 on one item": "600020",
    "sload cold then warm": "600154" + "600154" + "00",
    "sstore new slot": "6001600055",
    "sstore same value": "6005600155",
    "sstore clear a seeded slot": "6000600155",
    "sstore change then restore a seeded slot": "6009600155" + "6005600155",
    "sstore clear then reset a seeded slot": "6000600255" + "6003600255",
    "sstore set then clear a new slot": "6004600355" + "6000600355",
    "sstore change twice": "6009600155" + "6000600155" + "6004600155",
    "sstore with one item": "600155",
    "staticcall into sstore fails": "6000600060006000" + "73" + CALLEE.hex() + "62" + "00ffff" + "fa"
                                    + "600052" + "60206000f3",
    "log0 to log4 of paid memory": "602a600052" + "60206000a0" + "600160206000a1" + "6002600160206000a2"
                                   + "60036002600160206000a3" + "600460036002600160206000a4" + "00",
    "log past paid memory and of nothing": "60ff60406010a1" + "6000610100a0" + "5900",
    "log3 short of topics": "6001600260206000a3",
    "log with one item": "6000a0",
    "staticcall into log fails": "6000600060006000" + "73" + CALLEE.hex() + "62" + "00ffff" + "fa"
                                 + "600052" + "60206000f3",
    "pc and gas read after inline opcodes": "6001" + "80" + "90" + "50" + "5b" + "01" + "58" + "5a" + "6004" + "56"
                                            + "00" + "5b" + "58" + "5a" + "00",
    "out of gas on an inline push": "5b" * 4 + "6001" * 20,
    "jumpi to a jumpdest in push data": "6001600657" + "60" + "5b" + "00",
    "jump to a jumpdest reached before": "5b" + "6000" + "56",
    "calldataload inside, across and past the end of the call data": "600035" + "601035" + "602835"
                                                                    + "61ffff35" + "7f" + "ff" * 32 + "35" + "00",
    "calldataload on empty stack": "35",
    "slt and sgt across the sign bit": "7f" + "ff" * 32 + "6001" + "12" + "7f" + "ff" * 32 + "6001" + "13"
                                       + "6001" + "7f" + "80" + "00" * 31 + "12" + "00",
    "caller, callvalue and calldatasize": "33" + "34" + "36" + "00",
    "caller on a full stack": "5f" * 1024 + "33",
    "sgt with one item": "600113",
    "call into sstore succeeds": "60006000600060006000" + "73" + CALLEE.hex() + "62" + "00ffff" + "f1"
                                 + "600052" + "60206000f3",
}


def _vm(vm_class):
    header = CancunBlockHeader(difficulty=0, block_number=1, gas_limit=30_000_000, timestamp=1,
                               coinbase=b"\x01" * 20, base_fee_per_gas=0, excess_blob_gas=0, blob_gas_used=0,
                               parent_beacon_block_root=b"\x00" * 32)
    db = AtomicDB()
    return vm_class(header=header, chaindb=ChainDB(db), chain_context=ChainContext(1),
                    consensus_context=ConsensusContext(db))


def _run(vm_class, code: bytes, gas: int):
    vm = _vm(vm_class)
    for slot, value in SEEDED.items():
        vm.state.set_storage(ADDRESS, slot, value)
    vm.state.set_code(CALLEE, CALLEE_CODE)
    vm.state.lock_changes()
    computation = vm.execute_bytecode(origin=b"\x02" * 20, gas_price=0, gas=gas, to=ADDRESS,
                                      sender=b"\x02" * 20, value=0, data=CALLDATA, code=code)
    return (computation.is_error, str(computation.error) if computation.is_error else None,
            type(computation.error).__name__ if computation.is_error else None,
            computation.get_gas_remaining(), computation.get_gas_refund(), computation.output,
            list(computation._stack.values), computation.code.program_counter,
            [vm.state.get_storage(ADDRESS, slot) for slot in range(4)], vm.state.get_storage(CALLEE, 0),
            computation.get_log_entries())


@pytest.fixture(params=["segments", "plain loop"])
def compiled(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the code through compiled segments from its first run, or never (vm.segments)."""
    monkeypatch.setattr("vm.segments.HOT_AFTER_RUNS", 0 if request.param == "segments" else 10**9)
    return request.param


@pytest.mark.parametrize("gas", [100_000, 22_000, 2_400, 2_306, 60])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outcome_as_py_evm(name: str, gas: int, compiled: str) -> None:
    code = bytes.fromhex(CASES[name])
    assert _run(SettleCancunVM, code, gas) == _run(CancunVM, code, gas)


def test_shared_jump_analysis_gives_the_same_answers_on_rerun() -> None:
    """The second run of the same code reads the positions the first one found."""
    code = bytes.fromhex(CASES["jump into push data"])
    first = _run(SettleCancunVM, code, 100_000)
    again = _run(SettleCancunVM, code, 100_000)
    assert first == again == _run(CancunVM, code, 100_000)
    assert first[0] and first[2] == "InvalidInstruction"  # a JUMPDEST byte inside PUSH data


def test_the_storage_cases_reach_their_branches() -> None:
    """The SSTORE cases above do what their names say under py-evm (so the comparison means something)."""
    static = _run(SettleCancunVM, bytes.fromhex(CASES["staticcall into sstore fails"]), 100_000)
    assert static[5] == b"\x00" * 32 and static[9] == 0  # the inner frame's write was refused
    logs = _run(SettleCancunVM, bytes.fromhex(CASES["log0 to log4 of paid memory"]), 100_000)[10]
    assert [len(topics) for _, topics, _ in logs] == [0, 1, 2, 3, 4] and logs[4][1] == (1, 2, 3, 4)
    plain = _run(SettleCancunVM, bytes.fromhex(CASES["call into sstore succeeds"]), 100_000)
    assert plain[5] == b"\x00" * 31 + b"\x01" and plain[9] == 1
    cleared = _run(SettleCancunVM, bytes.fromhex(CASES["sstore clear a seeded slot"]), 100_000)
    assert cleared[4] > 0 and cleared[8][1] == 0  # a refund for clearing
    restored = _run(SettleCancunVM, bytes.fromhex(CASES["sstore change then restore a seeded slot"]), 100_000)
    assert restored[4] > 0 and restored[8][1] == 5
    floor = _run(SettleCancunVM, bytes.fromhex(CASES["sstore new slot"]), 2_306)  # 2,300 left at the SSTORE
    assert floor[0] and "2300" in floor[1]


#: Opcodes whose logic :mod:`vm.interpreter` replaces or runs inline, some DUP/SWAP/POP,
#: and JUMPDEST for jumps to land on.
FAST_OPCODES = [
    0x01,
    0x02,
    0x03,
    0x04,
    0x10,
    0x11,
    0x14,
    0x15,
    0x16,
    0x17,
    0x18,
    0x19,
    0x1B,
    0x1C,
    0x56,
    0x57,
    0x5B,
    0x51,
    0x52,
    0x80,
    0x81,
    0x90,
    0x50,
    0x20,
    0x54,
    0x55,
    0xA0,
    0xA1,
    0xA3,
    0x58,
    0x5A,
    0x5F,
    0x35,
    0x12,
    0x13,
    0x33,
    0x34,
    0x36,
]  # PC, GAS, PUSH0, CALLDATALOAD, SLT, SGT,
# CALLER, CALLVALUE, CALLDATASIZE
_push = st.binary(min_size=1, max_size=32).map(lambda data: bytes([0x5F + len(data)]) + data)
_small_push = st.integers(0, 300).map(lambda n: bytes([0x61]) + n.to_bytes(2, "big"))
_slot_push = st.integers(0, 3).map(lambda n: bytes([0x60, n]))
_step = st.one_of(_push, _small_push, _slot_push, st.sampled_from(FAST_OPCODES).map(lambda value: bytes([value])))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, max_size=40), gas=st.sampled_from([1_000_000, 100_000, 40]))
def test_random_programs_same_outcome_as_py_evm(steps: list[bytes], gas: int, compiled: str) -> None:
    code = b"".join(steps)
    assert _run(SettleCancunVM, code, gas) == _run(CancunVM, code, gas)
