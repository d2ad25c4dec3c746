"""py-evm's interpreter loop, with the per-opcode overhead taken out.

py-evm runs each opcode through a generator (``CodeStream.__iter__``), an
``Opcode.__call__`` frame, ``Computation.consume_gas`` and
``GasMeter.consume_gas``: four Python calls before the opcode's own logic, for
every one of the ~300 opcodes of an ERC-20 transfer. :class:`FastInterpreter`
overrides ``apply_computation`` on the computation class (py-evm's extension
point) with a loop that reads the program counter directly and, for the plain
fixed-cost opcodes (py-evm's ``_FastOpcode``), charges the gas inline before
calling the same logic function. Opcodes with their own ``__call__`` (calls,
creates, wrapped static-call guards) run exactly as py-evm runs them.

Further savings, all exact by construction:

* **Jump-destination analysis is shared per code.** py-evm works out whether a
  JUMPDEST position is code or PUSH data once per ``CodeStream``, i.e. once per
  call: an ERC-20 token re-analyses its own code on every transfer. The answer
  depends only on the code bytes, so the sets of known-valid and known-invalid
  positions are shared between every run of the same code (bounded cache).
* **PUSH, DUP, SWAP and POP** (60% of the opcodes a token transfer runs) and
  the common arithmetic, comparison, bitwise, jump, memory and call-data
  opcodes (ADD, SUB, MUL, DIV, SHL, SHR, LT, GT, SLT, SGT, EQ, AND, OR, XOR,
  ISZERO, NOT, JUMP, JUMPI, MLOAD, MSTORE, CALLDATALOAD, CALLDATASIZE,
  CALLVALUE, CALLER: another quarter) get logic functions that work on the
  stack's list directly, with py-evm's checks (stack limit 1024, underflow)
  and its exceptions, keeping py-evm's mnemonics and gas costs. The loop
  runs PUSH, DUP, SWAP, POP, JUMP, JUMPI, JUMPDEST and the arithmetic,
  comparison and bitwise operators inline, without a call, and keeps the
  program counter and the gas left in locals between calls out.
* **SHA3, RETURN, SLOAD, SSTORE and LOG0-4** are one function each, in py-evm's order
  of effects and with its messages (see the storage section below). Every
  other opcode's logic is py-evm's own.
* Each replacement is installed only where the fork's table holds the very
  py-evm function it was written against (for SSTORE and LOG, the function
  inside py-evm's static-call guard), so a py-evm upgrade that changes one
  falls back to py-evm's.

The remaining machinery -- stack, memory, gas schedule, error handling -- is
py-evm's own. With debug2 logging on, py-evm's loop runs instead, so opcode
traces still work. The official state tests run through this loop
(``SettleCancunVM``) and must give stock py-evm's results.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth import constants
from eth._utils.numeric import ceil32, unsigned_to_signed
from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
    WriteProtection,
)
from eth.vm import opcode_values as op
from eth.vm.computation import NO_RESULT, BaseComputation, memory_gas_cost
from eth.vm.forks.berlin import constants as berlin_constants
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.istanbul.computation import IstanbulComputation
from eth.vm.forks.london import storage as london_storage
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.shanghai.computation import ShanghaiComputation
from eth.vm.gas_meter import GasMeter, allow_negative_refund_strategy
from eth.vm.logic import arithmetic, comparison, flow
from eth.vm.logic import context as context_logic
from eth.vm.logic import logging as logging_logic
from eth.vm.logic import memory as memory_logic
from eth.vm.logic import sha3 as sha3_logic
from eth.vm.logic import system as system_logic
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import _FastOpcode
from eth.vm.opcode_values import DUP1, JUMPDEST, POP, PUSH0, STOP, SWAP1
from eth.vm.stack import to_bytes, to_int
from eth_utils import encode_hex

from vm import deadline as deadline_module
from vm import frames
from vm import segments as segments_module
from vm.encoding import is_uint
from vm.native import keccak_256
from vm.precompiles import settle_precompiles
from vm.segments import BadJump, SegmentOp, code_segments, evict_oldest
from vm.transaction_checks import below, resolved

if TYPE_CHECKING:
    # What the mixin is mixed into, so that mypy checks its use of the computation's attributes.
    _Computation = BaseComputation
else:
    _Computation = object


class FastInterpreter(_Computation):
    """Mixin for a py-evm computation class; goes first in the bases."""

    #: Whether this class's frame set-up is Shanghai's on the base computation's
    #: with Istanbul's gas meter (set per class), so :meth:`__init__` may build it directly.
    _lean_frames = False
    #: Whether ``get_gas_refund`` is otherwise the base computation's (set per class).
    _base_refund = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        after = below(cls, FastInterpreter)
        cls._lean_frames = (
            resolved(after, "__init__") is ShanghaiComputation.__init__
            and resolved(ShanghaiComputation.__mro__[1:], "__init__") is BaseComputation.__init__
            and resolved(after, "_configure_gas_meter") is IstanbulComputation._configure_gas_meter
        )
        cls._base_refund = all(
            resolved(after, name) is vars(BaseComputation)[name]
            for name in ("get_gas_refund", "is_error", "is_success")
        )

    def __init__(self, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI) -> None:
        """``BaseComputation.__init__`` then Shanghai's warm coinbase (EIP-3651), building the frame's objects directly.

        The code and the gas come from a ``Message``, whose constructor has
        validated them; anything else takes py-evm's constructors.
        """
        code, gas = message.code, message.gas
        if not (self._lean_frames and type(code) is bytes and is_uint(gas)):
            super().__init__(state, message, transaction_context)
            return
        self.state = state
        self.msg = message
        self.transaction_context = transaction_context
        self.code = frames.code_stream(code)
        self._gas_meter = frames.gas_meter(gas, allow_negative_refund_strategy)
        self.children = []
        self.accounts_to_delete = []
        self.beneficiaries = []
        self._stack = frames.stack()
        self._memory = frames.memory()
        self._log_entries = []
        self.data_floor_cost = 0
        state.mark_address_warm(state.coinbase)

    def get_gas_refund(self) -> int:
        """``BaseComputation.get_gas_refund``; for a frame without children, without the generator over them.

        The executor asks it twice per transaction (the refund and the
        receipt's gas used).
        """
        if self.children or not self._base_refund:
            return super().get_gas_refund()
        if self._error is not None:  # is_error
            return self.msg.refund
        return self.msg.refund + self._gas_meter.gas_refunded

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """``BaseComputation.apply_computation`` (py-evm 0.12.1b1), step for step, with :func:`_run` as the loop.

        Every frame, a precompile's included, first checks the state's deadline
        (:mod:`vm.deadline`); py-evm's own loop (DEBUG2) checks it only there.
        """
        deadline = getattr(state, "execution_deadline", None)
        if deadline is not None:
            deadline_module.check(deadline, deadline_module.clock_of(state))
        if cls.logger.show_debug2 or GasMeter.logger.show_debug2:
            return super().apply_computation(
                state, message, transaction_context, parent_computation
            )
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            _share_jump_analysis(computation.code)
            _run(computation)
        return computation


#: Compiled runs and taken jumps between two readings of the deadline's clock (vm.deadline).
CHECK_EVERY = 32


def _run(computation: Any) -> None:
    """Execute ``computation.code`` from its program counter until a halt or an error.

    The program counter and the gas left live in locals. They are written back
    to ``code.program_counter`` and ``meter.gas_remaining`` before every call
    out (the opcode functions read and move them) and before every error
    raised here, and read back after every call, so py-evm's objects hold
    what py-evm's own loop would at every point anything can look at them.
    """
    code = computation.code
    raw = code._raw_code_bytes
    length = len(raw)
    lookup = computation.opcodes
    costs, logic, inline, operators, segment_table, code_cache = _fixed_cost_table(lookup)
    meter = computation._gas_meter
    values = computation._stack.values
    valid_positions = code.valid_positions
    pc = code.program_counter
    gas = meter.gas_remaining
    # Compiled straight runs (vm.segments), once this code has run often enough.
    hot_code = code_segments(code_cache, raw)
    segments_get = hot_code.segments.get
    hot = hot_code.runs > segments_module.HOT_AFTER_RUNS
    msg = computation.msg
    memory = computation._memory
    # vm.deadline: the clock is read every CHECK_EVERY compiled runs and jumps taken (EVM code loops
    # only by jumping), a few microseconds apart; with no deadline, one test of a local each time.
    deadline = getattr(computation.state, "execution_deadline", None)
    clock = deadline_module.clock_of(computation.state)
    ticks = CHECK_EVERY
    try:
        while True:
            segment = segments_get(pc)
            if segment is not None or hot:
                if segment is None:
                    segment = hot_code.compile_at(pc, segment_table)
                run, cost, need, room, unspent = segment
                if cost <= gas and need <= len(values) <= room:
                    if deadline is not None:
                        ticks -= 1
                        if not ticks:
                            ticks = CHECK_EVERY
                            if clock() > deadline:
                                code.program_counter, meter.gas_remaining = pc, gas
                                deadline_module.check(deadline, clock)
                    gas -= cost
                    try:
                        pc = run(values, msg, memory)  # type: ignore[misc]  # None only in NO_SEGMENT, never run
                    except BadJump as bad:
                        code.program_counter, meter.gas_remaining = pc, gas
                        _jump_to(code, bad.destination)  # raises py-evm's error for it
                        pc = code.program_counter
                    if pc >= 0:
                        continue
                    # It stopped before a memory opcode that grows memory: run that one here.
                    pc = ~pc
                    gas += unspent[pc]
                # Else too little gas or stack for the whole run: step through it.
            if pc < length:
                opcode = raw[pc]
                pc += 1
            else:
                opcode = STOP  # CodeStream yields STOP past the end, pc unchanged
            logic_fn = logic[opcode]
            if logic_fn is None:
                code.program_counter, meter.gas_remaining = pc, gas
                opcode_fn = lookup.get(opcode)
                if opcode_fn is None:
                    opcode_fn = InvalidOpcode(opcode)
                opcode_fn(computation=computation)
                pc, gas = code.program_counter, meter.gas_remaining
                continue
            cost = costs[opcode]
            if cost > gas:
                code.program_counter, meter.gas_remaining = pc, gas
                raise _out_of_gas(cost, gas, lookup[opcode].mnemonic)
            gas -= cost
            # The bodies of this module's PUSH, DUP, SWAP, POP, JUMP, JUMPI,
            # binary and unary functions (below), without the call; JUMPDEST
            # does nothing.
            kind = inline[opcode]
            if kind <= _INLINE_PUSH32:
                value = raw[pc : pc + kind]
                pc += kind
                if len(value) != kind:
                    value = value.ljust(kind, b"\x00")
                if len(values) > 1023:
                    code.program_counter, meter.gas_remaining = pc, gas
                    raise FullStack("Stack limit reached")
                values.append(value)
            elif kind <= _INLINE_DUP16:
                position = kind - _INLINE_DUP1 + 1
                if len(values) > 1023:
                    code.program_counter, meter.gas_remaining = pc, gas
                    raise FullStack("Stack limit reached")
                if len(values) < position:
                    code.program_counter, meter.gas_remaining = pc, gas
                    raise InsufficientStack(f"Insufficient stack items for DUP{position}")
                values.append(values[-position])
            elif kind <= _INLINE_SWAP16:
                position = kind - _INLINE_SWAP1 + 1
                if len(values) <= position:
                    code.program_counter, meter.gas_remaining = pc, gas
                    raise InsufficientStack(f"Insufficient stack items for SWAP{position}")
                values[-1], values[-position - 1] = values[-position - 1], values[-1]
            elif kind == _INLINE_JUMPDEST:
                pass
            elif kind == _INLINE_BINARY:
                if len(values) < 2:
                    code.program_counter, meter.gas_remaining = pc, gas
                    raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                top = values.pop()
                second = values[-1]
                values[-1] = operators[opcode](
                    top if top.__class__ is int else from_bytes(top, "big") if top.__class__ is bytes else to_int(top),
                    second
                    if second.__class__ is int
                    else from_bytes(second, "big")
                    if second.__class__ is bytes
                    else to_int(second),
                )
            elif kind == _INLINE_CALL:
                code.program_counter, meter.gas_remaining = pc, gas
                logic_fn(computation)
                pc, gas = code.program_counter, meter.gas_remaining
            elif kind == _INLINE_POP:
                if not values:
                    code.program_counter, meter.gas_remaining = pc, gas
                    raise InsufficientStack("Wanted 1 stack item, had none")
                values.pop()
            elif kind == _INLINE_JUMPI or kind == _INLINE_JUMP:
                if kind == _INLINE_JUMP:
                    if not values:
                        code.program_counter, meter.gas_remaining = pc, gas
                        raise InsufficientStack("Wanted 1 stack item, had none")
                    destination = values.pop()
                    taken = 1
                else:
                    if len(values) < 2:
                        code.program_counter, meter.gas_remaining = pc, gas
                        raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                    destination = values.pop()
                    taken = values.pop()
                    if taken.__class__ is not int:
                        taken = from_bytes(taken, "big") if taken.__class__ is bytes else to_int(taken)
                if taken:
                    if deadline is not None:
                        ticks -= 1
                        if not ticks:
                            ticks = CHECK_EVERY
                            if clock() > deadline:
                                code.program_counter, meter.gas_remaining = pc, gas
                                deadline_module.check(deadline, clock)
                    if destination.__class__ is not int:
                        destination = (
                            from_bytes(destination, "big") if destination.__class__ is bytes else to_int(destination)
                        )
                    if destination in valid_positions and raw[destination] == JUMPDEST:
                        pc = destination
                    else:
                        code.program_counter, meter.gas_remaining = pc, gas
                        _jump_to(code, destination)
                        pc = code.program_counter
            else:  # _INLINE_UNARY
                if not values:
                    code.program_counter, meter.gas_remaining = pc, gas
                    raise InsufficientStack("Wanted 1 stack item, had none")
                top = values[-1]
                values[-1] = operators[opcode](
                    top if top.__class__ is int else from_bytes(top, "big") if top.__class__ is bytes else to_int(top)
                )
    except Halt:
        pass


#: id of an opcode table -> (the table, gas costs, logic functions, inline kinds and operators by opcode
#: byte, what each opcode does in a segment, and the compiled segments of the codes run on it).
_FIXED_COST_TABLES: dict[int, tuple[Any, ...]] = {}
# Inline kinds, in the order _run tests for them (roughly by how often a token
# transfer runs each): PUSH0-32 (the kind is the size), DUP1-16, SWAP1-16,
# JUMPDEST, binary operators, a call to the logic function, POP, JUMPI, JUMP,
# unary operators.
_INLINE_PUSH32 = 32
_INLINE_DUP1 = _INLINE_PUSH32 + 1
_INLINE_DUP16 = _INLINE_DUP1 + 15
_INLINE_SWAP1 = _INLINE_DUP16 + 1
_INLINE_SWAP16 = _INLINE_SWAP1 + 15
_INLINE_JUMPDEST = _INLINE_SWAP16 + 1
_INLINE_BINARY = _INLINE_JUMPDEST + 1
_INLINE_CALL = _INLINE_BINARY + 1
_INLINE_POP = _INLINE_CALL + 1
_INLINE_JUMPI = _INLINE_POP + 1
_INLINE_JUMP = _INLINE_JUMPI + 1
_INLINE_UNARY = _INLINE_JUMP + 1


def _fixed_cost_table(opcodes: dict[int, Any]) -> tuple[Any, ...]:
    """Gas cost, logic function, inline kind and operator of every plain fixed-cost opcode, by byte.

    Lists indexed by the opcode byte instead of a dict lookup, a type check and
    two attribute reads per opcode. The logic entry is ``None`` for opcodes that
    are not py-evm's ``_FastOpcode``: the loop calls py-evm's opcode object for
    them. The inline kind says which of this module's functions (or py-evm's
    JUMPDEST, which does nothing) the loop runs inline instead of calling it;
    for the binary and unary ones, the operator is beside it. The segment
    table says what each opcode a compiled segment can hold does there
    (:func:`_segment_table`). Built once per opcode table.
    """
    entry = _FIXED_COST_TABLES.get(id(opcodes))
    if entry is None or entry[0] is not opcodes:
        costs, inline = [0] * 256, [_INLINE_CALL] * 256
        logic: list[Any] = [None] * 256
        operators: list[Any] = [None] * 256
        for value, opcode_fn in opcodes.items():
            if type(opcode_fn) is _FastOpcode:
                costs[value], logic[value] = opcode_fn.gas_cost, opcode_fn.logic_fn
                inline[value] = _INLINE_KINDS.get(opcode_fn.logic_fn, _INLINE_CALL)
                operators[value] = _OPERATORS.get(opcode_fn.logic_fn)
        segment_table = _segment_table(costs, logic, inline, operators)
        entry = _FIXED_COST_TABLES[id(opcodes)] = (opcodes, costs, logic, inline, operators, segment_table, {})
    return entry[1:]


def _segment_table(costs: list[int], logic: list[Any], inline: list[int], operators: list[Any]) -> list[Any]:
    """By opcode byte, the :class:`SegmentOp` for the opcodes a segment can hold, else ``None``.

    Those are the ones :func:`_run` runs inline (PUSH, DUP, SWAP, POP,
    JUMPDEST, JUMP, JUMPI and the binary and unary operators), this
    module's message reads, and MLOAD and MSTORE (inside memory already paid
    for; a segment stops before one that would grow it). No state.
    """
    table: list[Any] = [None] * 256
    for value in range(256):
        logic_fn, kind, gas = logic[value], inline[value], costs[value]
        if logic_fn is None:
            continue
        if kind <= _INLINE_PUSH32:
            table[value] = SegmentOp("push", gas, size=kind)
        elif kind <= _INLINE_DUP16:
            table[value] = SegmentOp("dup", gas, size=kind - _INLINE_DUP1 + 1)
        elif kind <= _INLINE_SWAP16:
            table[value] = SegmentOp("swap", gas, size=kind - _INLINE_SWAP1 + 1)
        elif kind == _INLINE_JUMPDEST:
            table[value] = SegmentOp("nop", gas)
        elif kind in (_INLINE_BINARY, _INLINE_UNARY):
            operator = operators[value]
            table[value] = SegmentOp(
                "binary" if kind == _INLINE_BINARY else "unary",
                gas,
                operator=operator,
                expression=_EXPRESSIONS.get(operator),
            )
        elif kind == _INLINE_POP:
            table[value] = SegmentOp("pop", gas)
        elif kind == _INLINE_JUMP:
            table[value] = SegmentOp("jump", gas)
        elif kind == _INLINE_JUMPI:
            table[value] = SegmentOp("jumpi", gas)
        elif logic_fn is _calldataload:
            table[value] = SegmentOp("calldataload", gas)
        elif logic_fn is _mload:
            table[value] = SegmentOp("mload", gas)
        elif logic_fn is _mstore:
            table[value] = SegmentOp("mstore", gas)
        elif logic_fn in _MESSAGE_READS:
            expression, is_int = _MESSAGE_READS[logic_fn]
            table[value] = SegmentOp("read", gas, expression=expression, is_int=is_int)
    return table


#: Code bytes -> (valid, invalid) JUMPDEST positions found so far; oldest dropped past the limit.
_JUMP_ANALYSIS: dict[bytes, tuple[set[int], set[int]]] = {}
JUMP_ANALYSIS_LIMIT = 1024


def _share_jump_analysis(code: Any) -> None:
    """Point ``code``'s position caches at the ones shared by all runs of the same bytes."""
    raw = code._raw_code_bytes
    shared = _JUMP_ANALYSIS.get(raw)
    if shared is None:
        if len(_JUMP_ANALYSIS) >= JUMP_ANALYSIS_LIMIT:
            evict_oldest(_JUMP_ANALYSIS)
        _JUMP_ANALYSIS[raw] = (code.valid_positions, code.invalid_positions)
    else:
        code.valid_positions, code.invalid_positions = shared


# -- stack opcodes -----------------------------------------------------------------
# Each mirrors py-evm 0.12.1b1's eth.vm.logic.stack / duplication / swap with
# eth.vm.stack.Stack inlined: same stack representation (pushed bytes stay
# bytes), same limit checks in the same order, same exceptions.
def _push(size: int) -> Any:
    """PUSH``size``; :func:`_run` runs the same steps inline."""

    def push(computation: Any) -> None:
        code = computation.code
        start = code.program_counter
        value = code._raw_code_bytes[start : start + size]
        code.program_counter = start + size
        if len(value) != size:
            value = value.ljust(size, b"\x00")
        values = computation._stack.values
        if len(values) > 1023:
            raise FullStack("Stack limit reached")
        values.append(value)

    return push


def _dup(position: int) -> Any:
    def dup(computation: Any) -> None:
        values = computation._stack.values
        if len(values) > 1023:
            raise FullStack("Stack limit reached")
        try:
            values.append(values[-position])
        except IndexError:
            raise InsufficientStack(f"Insufficient stack items for DUP{position}") from None

    return dup


def _swap(position: int) -> Any:
    index = -position - 1

    def swap(computation: Any) -> None:
        values = computation._stack.values
        try:
            values[-1], values[index] = values[index], values[-1]
        except IndexError:
            raise InsufficientStack(f"Insufficient stack items for SWAP{position}") from None

    return swap


def _pop(computation: Any) -> None:
    try:
        computation._stack.values.pop()
    except IndexError:
        raise InsufficientStack("Wanted 1 stack item, had none") from None


# -- arithmetic, comparison, bitwise, jump and memory opcodes -------------------------
# The same results as py-evm's eth.vm.logic functions they replace (checked by
# identity in with_fast_opcodes), computed on the stack's list: operands
# are converted with py-evm's own to_int, a binary operator pops two and pushes
# one (so the stack can never overflow), and an underflow raises py-evm's
# InsufficientStack before anything is popped.
UINT_256_MAX = constants.UINT_256_MAX
GAS_SHA3WORD = constants.GAS_SHA3WORD
GAS_LOGDATA = constants.GAS_LOGDATA
GAS_LOGTOPIC = constants.GAS_LOGTOPIC
from_bytes = int.from_bytes
#: Logic function -> the kind :func:`_run` runs inline (filled as the functions are made, below).
_INLINE_KINDS: dict[Any, int] = {}
#: Binary and unary logic functions -> their operator on ints.
_OPERATORS: dict[Any, Any] = {}
#: Operators -> the same computation as a source template, for vm.segments.
_EXPRESSIONS: dict[Any, str] = {}
#: Message-read logic functions -> (what they push, as source over ``msg``; whether it is an int).
_MESSAGE_READS: dict[Any, tuple[str, bool]] = {}


def _binary(operator: Any, expression: str | None = None) -> Any:
    """``operator(top, second)`` replaces the top two items (py-evm's ``stack_pop_ints(2)`` order).

    ``expression`` is the same computation as Python source over ``{a}`` (the
    top) and ``{b}``, for compiled segments; ``M`` is 2**256 - 1 there.
    """

    def binary(computation: Any) -> None:
        values = computation._stack.values
        if len(values) < 2:
            raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
        top = values.pop()
        second = values[-1]
        # to_int inlined for the two common types (PUSH leaves bytes, results are ints).
        values[-1] = operator(
            top if top.__class__ is int else from_bytes(top, "big") if top.__class__ is bytes else to_int(top),
            second
            if second.__class__ is int
            else from_bytes(second, "big")
            if second.__class__ is bytes
            else to_int(second),
        )

    _OPERATORS[binary] = operator
    _INLINE_KINDS[binary] = _INLINE_BINARY
    if expression is not None:
        _EXPRESSIONS[operator] = expression
    return binary


def _unary(operator: Any, expression: str | None = None) -> Any:
    def unary(computation: Any) -> None:
        values = computation._stack.values
        if not values:
            raise InsufficientStack("Wanted 1 stack item, had none")
        top = values[-1]
        values[-1] = operator(
            top if top.__class__ is int else from_bytes(top, "big") if top.__class__ is bytes else to_int(top)
        )

    _OPERATORS[unary] = operator
    _INLINE_KINDS[unary] = _INLINE_UNARY
    if expression is not None:
        _EXPRESSIONS[operator] = expression
    return unary


def _jump_to(code: Any, destination: int) -> None:
    """py-evm's jump: move the program counter, then require a JUMPDEST that is not PUSH data.

    A destination already known to start an instruction (py-evm's own record,
    shared per code) that holds a JUMPDEST is taken without asking again.
    """
    code.program_counter = destination
    if destination in code.valid_positions and code._raw_code_bytes[destination] == JUMPDEST:
        return
    if code.peek() != JUMPDEST:
        raise InvalidJumpDestination("Invalid Jump Destination")
    if not code.is_valid_opcode(destination):
        raise InvalidInstruction("Jump resulted in invalid instruction")


def _pop_int(values: list[Any]) -> int:
    """py-evm's ``stack_pop1_int`` on the stack's list."""
    if not values:
        raise InsufficientStack("Wanted 1 stack item, had none")
    top = values.pop()
    return top if top.__class__ is int else from_bytes(top, "big") if top.__class__ is bytes else to_int(top)


def _pop_two_ints(values: list[Any]) -> tuple[int, int]:
    """py-evm's ``stack_pop_ints(2)`` on the stack's list: the top item first."""
    if len(values) < 2:
        raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
    top = values.pop()
    second = values.pop()
    return (
        top if top.__class__ is int else from_bytes(top, "big") if top.__class__ is bytes else to_int(top),
        second
        if second.__class__ is int
        else from_bytes(second, "big")
        if second.__class__ is bytes
        else to_int(second),
    )


def _out_of_gas(cost: int, remaining: int, reason: str) -> OutOfGas:
    """The error ``GasMeter.consume_gas`` raises, with its message."""
    return OutOfGas(f"Out of gas: Needed {cost} - Remaining {remaining} - Reason: {reason}")


def _charge(computation: Any, cost: int, reason: str) -> None:
    """``GasMeter.consume_gas`` for a cost that is never negative: the same check and ``OutOfGas`` message."""
    meter = computation._gas_meter
    if cost > meter.gas_remaining:
        raise _out_of_gas(cost, meter.gas_remaining, reason)
    meter.gas_remaining -= cost


def _extend_memory(computation: Any, start: int, size: int) -> None:
    """py-evm's ``extend_memory(start, size)`` for operands from the stack.

    The same fee (``memory_gas_cost`` of the new size less that of the old),
    charged with ``GasMeter.consume_gas``'s check and message, then the same
    ``Memory.extend``; the reason string is built only for the error. Stack
    operands are already uint256, which is all py-evm's validation checks.
    A size of 0 (which charges and extends nothing) and DEBUG2 (for its trace
    line) go to py-evm's own.
    """
    if not size or computation.logger.show_debug2:
        computation.extend_memory(start, size)
        return
    memory = computation._memory
    before_size = ceil32(len(memory._bytes))
    after_size = ceil32(start + size)
    fee = memory_gas_cost(after_size) - memory_gas_cost(before_size)
    if fee > 0:
        meter = computation._gas_meter
        if fee > meter.gas_remaining:
            raise _out_of_gas(fee, meter.gas_remaining, f"Expanding memory {before_size} -> {after_size}")
        meter.gas_remaining -= fee
    memory.extend(start, size)


def _read_memory(computation: Any, start: int, size: int) -> bytes:
    """``extend_memory`` then ``memory_read_bytes``; inside memory already paid for, the extension would do nothing."""
    if not (size and start + size <= len(computation._memory._bytes)):
        _extend_memory(computation, start, size)
    return bytes(computation._memory._bytes[start : start + size])


def _jump(computation: Any) -> None:
    _jump_to(computation.code, _pop_int(computation._stack.values))


def _jumpi(computation: Any) -> None:
    destination, condition = _pop_two_ints(computation._stack.values)
    if condition:
        _jump_to(computation.code, destination)


def _mstore(computation: Any) -> None:
    """py-evm's ``mstore``; a write inside memory already paid for skips ``extend_memory``, which would do nothing."""
    values = computation._stack.values
    start = _pop_int(values)
    if not values:
        raise InsufficientStack("Wanted 1 stack item, had none")
    value = values.pop()
    word = value.to_bytes(32, "big") if value.__class__ is int else to_bytes(value).rjust(32, b"\x00")[-32:]
    memory = computation._memory._bytes
    if start + 32 <= len(memory):
        memory[start : start + 32] = word
    else:
        _extend_memory(computation, start, 32)
        # Memory.write's checks hold: start is a stack item, the word is 32 bytes, memory now reaches it.
        computation._memory._bytes[start : start + 32] = word


def _mload(computation: Any) -> None:
    """py-evm's ``mload``, with the same shortcut as :func:`_mstore`."""
    values = computation._stack.values
    start = _pop_int(values)
    memory = computation._memory._bytes
    if start + 32 > len(memory):
        _extend_memory(computation, start, 32)
        memory = computation._memory._bytes
    values.append(bytes(memory[start : start + 32]))


def _calldataload(computation: Any) -> None:
    """py-evm's ``calldataload``, slicing the 32 bytes out of the call data instead of copying all of it first."""
    values = computation._stack.values
    start = _pop_int(values)
    # One item was just popped, so the push cannot overflow; the value is at most 32 bytes.
    values.append(bytes(computation.msg.data[start : start + 32]).ljust(32, b"\x00").lstrip(b"\x00"))


def _message_value(read: Any, expression: str, is_int: bool) -> Any:
    """py-evm's CALLER, CALLVALUE and CALLDATASIZE: push what ``read`` takes from the message.

    py-evm validates the value as a stack item on the push; the message
    already validated it (a canonical address, a uint256), and a length is
    one too.
    """

    def push_from_message(computation: Any) -> None:
        values = computation._stack.values
        if len(values) > 1023:
            raise FullStack("Stack limit reached")
        values.append(read(computation.msg))

    _MESSAGE_READS[push_from_message] = (expression, is_int)
    return push_from_message


def _return(computation: Any) -> None:
    """py-evm's ``return_op``, with the paid-memory shortcut of :func:`_sha3`.

    The output is bytes, as its setter checks.
    """
    start, size = _pop_two_ints(computation._stack.values)
    computation._output = _read_memory(computation, start, size)
    raise Halt("RETURN")


def _sha3(computation: Any) -> None:
    """py-evm's ``sha3``; hashing memory already paid for skips ``extend_memory``, which would do nothing."""
    values = computation._stack.values
    start, size = _pop_two_ints(values)
    data = _read_memory(computation, start, size)
    _charge(computation, GAS_SHA3WORD * ((size + 31) // 32), "SHA3: word gas cost")
    values.append(keccak_256(data).digest())


# -- storage ---------------------------------------------------------------------------
# py-evm's SLOAD (Berlin, EIP-2929) and SSTORE (London, EIP-2200/2929/3529) in
# one function each, in py-evm's order of effects: the static-call guard, the
# 2300-gas floor, the gas and refund of net metering, the write, then the
# cold-slot surcharge. py-evm builds the gas meter's reason string for every
# SSTORE (hex address and three 256-bit values in decimal); here it is built
# only for the OutOfGas message that carries it.
_SSTORE_SCHEDULE = london_storage.GAS_SCHEDULE_EIP3529
COLD_SLOAD_COST = berlin_constants.COLD_SLOAD_COST
WARM_STORAGE_READ_COST = berlin_constants.WARM_STORAGE_READ_COST


def _sload(computation: Any) -> None:
    values = computation._stack.values
    slot = _pop_int(values)
    state = computation.state
    address = computation.msg.storage_address
    if state.is_storage_warm(address, slot):
        cost = WARM_STORAGE_READ_COST
    else:
        state.mark_storage_warm(address, slot)
        cost = COLD_SLOAD_COST
    _charge(computation, cost, "SLOAD")
    values.append(state.get_storage(address, slot))


def _sstore_eip3529(computation: Any) -> None:
    """``ensure_no_static(sstore_eip3529)``: EIP-2200 net metering with the EIP-2929 and EIP-3529 schedule."""
    if computation.msg.is_static:
        raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
    meter = computation._gas_meter
    if meter.gas_remaining <= 2300:
        raise OutOfGas("Net-metered SSTORE always fails below 2300 gas, per EIP-2200", meter.gas_remaining)
    slot, value = _pop_two_ints(computation._stack.values)
    state = computation.state
    address = computation.msg.storage_address
    current = state.get_storage(address, slot)
    original = state.get_storage(address, slot, from_journal=False)
    schedule = _SSTORE_SCHEDULE
    refund = 0
    if current == value:
        cost = schedule.sload_gas
    elif original == current:
        if original == 0:
            cost = schedule.sstore_set_gas
        else:
            cost = schedule.sstore_reset_gas
            if value == 0:
                refund += schedule.sstore_clears_schedule
    else:
        cost = schedule.sload_gas
        if original != 0:
            if current == 0:
                refund -= schedule.sstore_clears_schedule
            if value == 0:
                refund += schedule.sstore_clears_schedule
        if original == value:
            if original == 0:
                refund += schedule.sstore_set_gas - schedule.sload_gas
            else:
                refund += schedule.sstore_reset_gas - schedule.sload_gas
    if cost > meter.gas_remaining:
        raise _out_of_gas(
            cost,
            meter.gas_remaining,
            f"SSTORE: {encode_hex(address)}[{slot}] -> {value} (current: {current} / original: {original})",
        )
    meter.gas_remaining -= cost
    if refund:
        computation.refund_gas(refund)
    state.set_storage(address, slot, value)
    if not state.is_storage_warm(address, slot):
        state.mark_storage_warm(address, slot)
        _charge(computation, COLD_SLOAD_COST, "Implicit SLOAD during SSTORE")


def _log(topic_count: int) -> Any:
    """``ensure_no_static(logN)`` (Byzantium on): py-evm's ``log_XX`` with the paid-memory shortcut of :func:`_sha3`."""

    def log(computation: Any) -> None:
        if computation.msg.is_static:
            raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
        values = computation._stack.values
        start, size = _pop_two_ints(values)
        if topic_count == 1:
            topics: tuple[int, ...] = (_pop_int(values),)
        elif topic_count:
            if len(values) < topic_count:
                raise InsufficientStack(f"Wanted {topic_count} stack items, only had {len(values)}")
            popped = values[-topic_count:]
            del values[-topic_count:]
            topics = tuple(
                [
                    top if top.__class__ is int else from_bytes(top, "big") if top.__class__ is bytes else to_int(top)
                    for top in reversed(popped)
                ]
            )
        else:
            topics = ()
        _charge(computation, GAS_LOGDATA * size + GAS_LOGTOPIC * topic_count, "Log topic and data gas cost")
        computation.add_log_entry(computation.msg.storage_address, topics, _read_memory(computation, start, size))

    return log


#: Opcodes behind py-evm's ``ensure_no_static`` guard -> (the function inside it, the replacement).
_STATIC_GUARDED = {
    op.SSTORE: (london_storage.sstore_eip3529, _sstore_eip3529),
    **{op.LOG0 + n: (getattr(logging_logic, f"log{n}"), _log(n)) for n in range(5)},
}


_PUSHES = [_push(size) for size in range(33)]
_DUPS = [_dup(position) for position in range(1, 17)]
_SWAPS = [_swap(position) for position in range(1, 17)]
_INLINE_KINDS.update({_PUSHES[size]: size for size in range(33)})
_INLINE_KINDS.update({_DUPS[n]: _INLINE_DUP1 + n for n in range(16)})
_INLINE_KINDS.update({_SWAPS[n]: _INLINE_SWAP1 + n for n in range(16)})
_INLINE_KINDS.update({_pop: _INLINE_POP, _jump: _INLINE_JUMP, _jumpi: _INLINE_JUMPI, flow.jumpdest: _INLINE_JUMPDEST})


#: opcode -> (the py-evm logic function it stands in for, the replacement).
_ARITHMETIC_AND_FLOW = {
    op.ADD: (arithmetic.add, _binary(lambda a, b: (a + b) & UINT_256_MAX, "({a} + {b}) & M")),
    op.SUB: (arithmetic.sub, _binary(lambda a, b: (a - b) & UINT_256_MAX, "({a} - {b}) & M")),
    op.MUL: (arithmetic.mul, _binary(lambda a, b: (a * b) & UINT_256_MAX, "({a} * {b}) & M")),
    op.DIV: (
        arithmetic.div,
        _binary(lambda a, b: 0 if b == 0 else (a // b) & UINT_256_MAX, "0 if {b} == 0 else ({a} // {b}) & M"),
    ),
    op.SHL: (
        arithmetic.shl,
        _binary(
            lambda shift, v: 0 if shift >= 256 else (v << shift) & UINT_256_MAX, "0 if {a} >= 256 else ({b} << {a}) & M"
        ),
    ),
    op.SHR: (
        arithmetic.shr,
        _binary(
            lambda shift, v: 0 if shift >= 256 else (v >> shift) & UINT_256_MAX, "0 if {a} >= 256 else ({b} >> {a}) & M"
        ),
    ),
    op.LT: (comparison.lt, _binary(lambda a, b: 1 if a < b else 0, "1 if {a} < {b} else 0")),
    op.GT: (comparison.gt, _binary(lambda a, b: 1 if a > b else 0, "1 if {a} > {b} else 0")),
    op.EQ: (comparison.eq, _binary(lambda a, b: 1 if a == b else 0, "1 if {a} == {b} else 0")),
    op.SLT: (comparison.slt, _binary(lambda a, b: 1 if unsigned_to_signed(a) < unsigned_to_signed(b) else 0)),
    op.SGT: (comparison.sgt, _binary(lambda a, b: 1 if unsigned_to_signed(a) > unsigned_to_signed(b) else 0)),
    op.AND: (comparison.and_op, _binary(lambda a, b: a & b, "{a} & {b}")),
    op.OR: (comparison.or_op, _binary(lambda a, b: a | b, "{a} | {b}")),
    op.XOR: (comparison.xor, _binary(lambda a, b: a ^ b, "{a} ^ {b}")),
    op.ISZERO: (comparison.iszero, _unary(lambda a: 1 if a == 0 else 0, "1 if {a} == 0 else 0")),
    op.NOT: (comparison.not_op, _unary(lambda a: UINT_256_MAX - a, "M - {a}")),
    op.JUMP: (flow.jump, _jump),
    op.JUMPI: (flow.jumpi, _jumpi),
    op.MSTORE: (memory_logic.mstore, _mstore),
    op.MLOAD: (memory_logic.mload, _mload),
    op.SHA3: (sha3_logic.sha3, _sha3),
    op.RETURN: (system_logic.return_op, _return),
    op.CALLDATALOAD: (context_logic.calldataload, _calldataload),
    op.CALLDATASIZE: (context_logic.calldatasize, _message_value(lambda msg: len(msg.data), "len(msg.data)", True)),
    op.CALLVALUE: (context_logic.callvalue, _message_value(lambda msg: msg.value, "msg.value", True)),
    op.CALLER: (context_logic.caller, _message_value(lambda msg: msg.sender, "msg.sender", False)),
    op.SLOAD: (berlin_logic.sload_eip2929, _sload),
}


def with_fast_opcodes(opcodes: dict[int, Any]) -> dict[int, Any]:
    """``opcodes`` with the stack, arithmetic, flow, memory, hashing, storage and log opcodes on the functions above.

    Only plain fixed-cost entries are replaced, mnemonic and gas cost kept;
    anything but PUSH, DUP, SWAP and POP only where py-evm's table has the
    very function the replacement was written against (a py-evm upgrade that
    changes one leaves it on py-evm's logic).
    """
    logic = {POP: _pop}
    logic.update({PUSH0 + size: _PUSHES[size] for size in range(33)})
    logic.update({DUP1 + n: _DUPS[n] for n in range(16)})
    logic.update({SWAP1 + n: _SWAPS[n] for n in range(16)})
    table = dict(opcodes)
    for value, logic_fn in logic.items():
        original = opcodes.get(value)
        if type(original) is _FastOpcode:
            table[value] = _FastOpcode(logic_fn, original.mnemonic, original.gas_cost)
    for value, (expected, logic_fn) in _ARITHMETIC_AND_FLOW.items():
        original = opcodes.get(value)
        if type(original) is _FastOpcode and original.logic_fn is expected:
            table[value] = _FastOpcode(logic_fn, original.mnemonic, original.gas_cost)
    for value, (expected, logic_fn) in _STATIC_GUARDED.items():
        original = opcodes.get(value)
        # ensure_no_static wraps with functools.wraps, which leaves the guarded function visible.
        if type(original) is _FastOpcode and getattr(original.logic_fn, "__wrapped__", None) is expected:
            table[value] = _FastOpcode(logic_fn, original.mnemonic, original.gas_cost)
    return table


class SettlePragueComputation(FastInterpreter, PragueComputation):
    """Prague's computation on the fast loop, with Settle's precompile prices (:mod:`vm.precompiles`)."""

    opcodes = with_fast_opcodes(PragueComputation.opcodes)
    _precompiles = settle_precompiles(PragueComputation._precompiles)


class SettleCancunComputation(FastInterpreter, CancunComputation):
    """Cancun's computation on the fast loop (for the official state tests)."""

    opcodes = with_fast_opcodes(CancunComputation.opcodes)
