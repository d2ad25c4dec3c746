"""A wall-clock deadline for EVM execution that may be cut short: calls and block building.

Gas bounds what a call or a transaction may cost, but not how long it runs in
Python: py-evm's pure-Python precompiles and the interpreter itself cost very
different CPU per gas. Two kinds of execution may be stopped by the clock,
because nothing depends on them finishing:

* ``eth_call`` and ``eth_estimateGas``, whose caller gets geth's
  ``execution aborted (timeout = 5s)``;
* a transaction a proposer is adding to its block, which is then left out.

Importing a block never runs with a deadline: whether a block is valid must not
depend on how fast a validator is (determinism). There, gas alone bounds time,
which is why the gas schedule must (docs/execution.md, "Gas bounds time").

The deadline is an attribute of the VM state the execution runs on (``None``,
the class default, means none), and so is the clock it is read on
(``execution_clock``, :data:`clock` by default): an RPC worker's clock also
steps aside while consensus executes a block (``node.backend``), so that the
check doubles as the point where a worker yields the interpreter lock. :mod:`vm.interpreter` reads it once per message
frame and checks the clock at the start of every frame (so before every
precompile call) and every ``CHECK_EVERY`` (32) compiled straight runs of code
and jumps taken: EVM code cannot loop without a jump or a call, so no execution
runs more than a few microseconds past the deadline, except inside one opcode
or one precompile call, which the gas schedule bounds. Without a deadline the
loop pays one test of a local per run or jump (no measurable cost); with one,
about 10% on a loop of the smallest runs (JUMPDEST PUSH ADD POP PUSH JUMP).
:class:`ExecutionTimeout` is not a py-evm ``VMError``: a
frame does not swallow it as a failure of that frame, it unwinds the whole
execution, and the caller discards the state it ran on (or reverts it to a
snapshot taken before the transaction).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: The clock deadlines are read on (monotonic, fractional seconds).
clock = time.perf_counter


class ExecutionTimeout(Exception):
    """Execution ran past its wall-clock deadline and was abandoned half-way."""

    def __init__(self, overrun_seconds: float) -> None:
        super().__init__(f"execution ran past its deadline by {overrun_seconds * 1000:.1f} ms")
        self.overrun_seconds = overrun_seconds


def deadline_of(state: Any) -> float | None:
    """The ``clock()`` value past which execution on ``state`` stops, or None."""
    return getattr(state, "execution_deadline", None)


def set_deadline(state: Any, deadline: float | None, read_clock: Callable[[], float] | None = None) -> None:
    """Make execution on ``state`` stop at ``deadline`` (a ``clock()`` value); None removes it.

    ``read_clock``, if given, is called instead of :data:`clock` at every check:
    it must return the same clock's time, and may wait first.
    """
    state.execution_deadline = deadline
    state.execution_clock = read_clock or clock


def clock_of(state: Any) -> Callable[[], float]:
    """The clock ``state``'s deadline is read on."""
    return getattr(state, "execution_clock", None) or clock


def check(deadline: float | None, read_clock: Callable[[], float] = clock) -> None:
    """Raise :class:`ExecutionTimeout` once ``deadline`` has passed."""
    if deadline is not None:
        now = read_clock()
        if now > deadline:
            raise ExecutionTimeout(now - deadline)
