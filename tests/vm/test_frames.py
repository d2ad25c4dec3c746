"""A frame's objects built directly (``vm.frames``) against py-evm's constructors, attribute for attribute."""
import itertools

import pytest
from eth.abc import StateAPI
from eth.db.atomic import AtomicDB
from eth.vm.code_stream import CodeStream
from eth.vm.forks.cancun.transaction_context import CancunTransactionContext
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth.vm.gas_meter import GasMeter, allow_negative_refund_strategy
from eth.vm.memory import Memory
from eth.vm.message import Message
from eth.vm.stack import Stack
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import GENESIS
from vm import frames
from vm.chain import build_genesis
from vm.executor import QuietTransactionExecutor, _london_context_class
from vm.fork import SettlePragueState
from vm.interpreter import FastInterpreter, SettlePragueComputation

_address = st.binary(min_size=20, max_size=20)
_uint = st.integers(0, 2**256 - 1)


def attributes(obj: object) -> dict:
    """Every slot and instance attribute, with py-evm's helper objects reduced to what they hold."""
    names = {name for klass in type(obj).__mro__ for name in getattr(klass, "__slots__", ())}
    found = {name: getattr(obj, name) for name in names if hasattr(obj, name)}
    found.update(getattr(obj, "__dict__", {}))
    return {name: _comparable(value) for name, value in found.items()}


def _comparable(value: object) -> object:
    if isinstance(value, itertools.count):
        return ("count", repr(value))
    if isinstance(value, (CodeStream, GasMeter, Stack, Memory)):
        return (type(value), attributes(value))
    if hasattr(value, "__self__") and hasattr(value, "__func__"):  # a bound method: whose, and which
        return ("bound", value.__func__, id(value.__self__))
    if hasattr(value, "__self__") and hasattr(value, "__name__"):  # a list's method: Stack caches three
        return ("builtin", value.__name__, type(value.__self__))
    return type(value), value


@settings(max_examples=200, deadline=None)
@given(gas=_uint, to=_address, sender=_address, value=_uint, data=st.binary(max_size=40),
       code=st.binary(max_size=40), refund=st.integers(0, 10**6), is_delegation=st.booleans())
def test_call_message_is_messages(gas, to, sender, value, data, code, refund, is_delegation) -> None:
    built = frames.call_message(gas, to, sender, value, data, code, refund, is_delegation)
    expected = Message(gas=gas, to=to, sender=sender, value=value, data=data, code=code,
                       create_address=None, refund=refund, is_delegation=is_delegation)
    assert attributes(built) == attributes(expected)
    assert (built.storage_address, built.code_address, built.is_create, built.depth) == (to, to, False, 0)


@given(gas_price=_uint, origin=_address)
def test_transaction_context_is_the_constructors(gas_price, origin) -> None:
    built = frames.transaction_context(CancunTransactionContext, gas_price, origin)
    expected = CancunTransactionContext(gas_price=gas_price, origin=origin)
    assert attributes(built) == attributes(expected)
    assert [built.get_next_log_counter() for _ in range(3)] == [0, 1, 2]
    assert (built.gas_price, built.origin, built.blob_versioned_hashes) == (gas_price, origin, [])


@given(code=st.binary(max_size=40), gas=_uint)
def test_stream_meter_stack_and_memory_are_the_constructors(code, gas) -> None:
    assert attributes(frames.code_stream(code)) == attributes(CodeStream(code))
    assert attributes(frames.gas_meter(gas, allow_negative_refund_strategy)) == attributes(
        GasMeter(gas, allow_negative_refund_strategy))
    assert attributes(frames.memory()) == attributes(Memory())
    built = frames.stack()
    assert attributes(built) == attributes(Stack())
    assert built._append.__self__ is built._pop.__self__ is built.__len__.__self__ is built.values
    built._append(7)  # the cached list methods act on the stack's own list
    assert built.values == [7] and built._pop() == 7 and len(built) == 0


@pytest.fixture
def state() -> StateAPI:
    return build_genesis(AtomicDB(), GENESIS).get_vm().state


@pytest.mark.parametrize("code", [b"", bytes.fromhex("6001600101")])
def test_a_lean_frame_is_prague_computations(state, code) -> None:
    message = Message(gas=90_000, to=b"\x11" * 20, sender=b"\x22" * 20, value=0, data=b"", code=code)
    context = CancunTransactionContext(gas_price=0, origin=b"\x22" * 20)
    assert SettlePragueComputation._lean_frames
    lean = attributes(SettlePragueComputation(state, message, context))
    assert state.is_address_warm(state.coinbase)
    state.lock_changes()  # both mark the coinbase warm; the warm set is per transaction
    assert not state.is_address_warm(state.coinbase)
    expected = attributes(PragueComputation(state, message, context))
    assert state.is_address_warm(state.coinbase)
    assert lean == expected


def test_frames_fall_back_where_py_evms_steps_differ() -> None:
    """An ``__init__`` or a context of another shape below the mixins is left to run as it is."""

    class OwnInit(PragueComputation):
        def __init__(self, *args) -> None:
            super().__init__(*args)

    class OwnContext(SettlePragueState):
        def get_transaction_context(self, transaction):
            return super().get_transaction_context(transaction)

    class OwnBuild(PragueTransactionExecutor):
        def build_computation(self, message, transaction):
            return super().build_computation(message, transaction)

    assert not type("Lean", (FastInterpreter, OwnInit), {})._lean_frames
    assert _london_context_class(SettlePragueState) is CancunTransactionContext
    assert _london_context_class(OwnContext) is None
    assert _london_context_class(PragueState) is CancunTransactionContext
    assert type("Quiet", (QuietTransactionExecutor, PragueTransactionExecutor), {})._flat_build
    assert not type("Quiet", (QuietTransactionExecutor, OwnBuild), {})._flat_build
