"""A message frame's objects, built without re-validating values that are already valid.

py-evm builds a ``Message``, a transaction context, and per call frame a
``CodeStream``, ``GasMeter``, ``Stack`` and ``Memory``, each constructor
validating its arguments again: ``Message`` alone makes a dozen validation
calls. On the executor's path every value has been validated before (the
transaction's fields by ``transaction.validate()``, the sender by its
recovery, the code by the account database, which holds only bytes), so the
checks cannot fail there.

Each builder here sets exactly the attributes py-evm's constructor of
0.12.1b1 sets, to the same values; ``tests/vm/test_frames.py`` compares
every attribute with the constructor's result. **Re-check them against
py-evm's constructors when py-evm is upgraded.**
"""
from __future__ import annotations

import itertools
from typing import Any

from eth.vm.code_stream import CodeStream
from eth.vm.gas_meter import GasMeter
from eth.vm.memory import Memory
from eth.vm.message import Message
from eth.vm.stack import Stack
from eth_typing import Address

_new = object.__new__


def call_message(gas: int, to: Address, sender: Address, value: int, data: bytes, code: bytes,
                 refund: int, is_delegation: bool) -> Message:
    """A depth-0 call:
    ``Message(gas=, to=, sender=, value=, data=, code=, create_address=None, refund=, is_delegation=)``."""
    message = _new(Message)
    message.gas = gas
    message.to = to
    message.sender = sender
    message.value = value
    message.data = data
    message.depth = 0
    message.code = code
    # py-evm's Message.__init__ stores None here too when no address is given (its annotation says Address).
    message._storage_address = None  # type: ignore[assignment]
    message._code_address = None  # type: ignore[assignment]
    message.should_transfer_value = True
    message.is_static = False
    message._is_delegation = is_delegation
    message.refund = refund
    return message


def transaction_context(context_class: type, gas_price: int, origin: Address) -> Any:
    """``context_class(gas_price=, origin=)`` for py-evm's ``BaseTransactionContext`` subclasses."""
    context: Any = _new(context_class)
    context._gas_price = gas_price
    context._origin = origin
    context._log_counter = itertools.count()
    context._blob_versioned_hashes = []
    context._authorization_list = []
    return context


def code_stream(code: bytes) -> CodeStream:
    """``CodeStream(code)``."""
    stream = _new(CodeStream)
    stream.program_counter = 0
    stream._raw_code_bytes = code
    stream._length_cache = len(code)
    stream.invalid_positions = set()
    stream.valid_positions = set()
    return stream


def gas_meter(start_gas: int, refund_strategy: Any) -> GasMeter:
    """``GasMeter(start_gas, refund_strategy)``."""
    meter = _new(GasMeter)
    meter.refund_strategy = refund_strategy
    meter.start_gas = start_gas
    meter.gas_remaining = start_gas
    meter.gas_refunded = 0
    return meter


def stack() -> Stack:
    """``Stack()``."""
    new = _new(Stack)
    values: list[Any] = []
    new.values = values
    new._append = values.append
    new._pop = values.pop
    new.__len__ = values.__len__
    return new


def memory() -> Memory:
    """``Memory()``."""
    new = _new(Memory)
    new._bytes = bytearray()
    return new
