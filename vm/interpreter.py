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

Everything else -- opcode logic, stack, memory, gas schedule, error handling --
is py-evm's own. With debug2 logging on, py-evm's loop runs instead, so opcode
traces still work. The official state tests run through this loop
(``SettleCancunVM``) and must give stock py-evm's results.
"""
from __future__ import annotations

from typing import Any

from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import Halt, OutOfGas
from eth.vm.computation import NO_RESULT
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.gas_meter import GasMeter
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.opcode import _FastOpcode
from eth.vm.opcode_values import STOP


class FastInterpreter:
    """Mixin for a py-evm computation class; goes first in the bases."""

    @classmethod
    def apply_computation(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        """``BaseComputation.apply_computation`` (py-evm 0.12.1b1), step for step, with :func:`_run` as the loop."""
        if cls.logger.show_debug2 or GasMeter.logger.show_debug2:  # type: ignore[attr-defined]
            return super().apply_computation(  # type: ignore[misc]
                state, message, transaction_context, parent_computation
            )
        with cls(state, message, transaction_context) as computation:  # type: ignore[call-arg]
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)  # type: ignore[attr-defined]
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            _run(computation)
        return computation


def _run(computation: Any) -> None:
    """Execute ``computation.code`` from its program counter until a halt or an error."""
    code = computation.code
    raw = code._raw_code_bytes
    length = len(raw)
    lookup = computation.opcodes
    meter = computation._gas_meter
    fast = _FastOpcode
    try:
        while True:
            pc = code.program_counter
            if pc < length:
                opcode = raw[pc]
                code.program_counter = pc + 1
            else:
                opcode = STOP  # CodeStream yields STOP past the end, pc unchanged
            opcode_fn = lookup.get(opcode)
            if opcode_fn is None:
                opcode_fn = InvalidOpcode(opcode)
            if type(opcode_fn) is fast:
                cost = opcode_fn.gas_cost
                remaining = meter.gas_remaining
                if cost > remaining:
                    raise OutOfGas(
                        f"Out of gas: Needed {cost} - Remaining {remaining} - Reason: {opcode_fn.mnemonic}"
                    )
                meter.gas_remaining = remaining - cost
                opcode_fn.logic_fn(computation)
            else:
                opcode_fn(computation=computation)
    except Halt:
        pass


class SettlePragueComputation(FastInterpreter, PragueComputation):
    """Prague's computation on the fast loop."""


class SettleCancunComputation(FastInterpreter, CancunComputation):
    """Cancun's computation on the fast loop (for the official state tests)."""
