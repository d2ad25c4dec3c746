"""Straight runs of hot EVM code compiled to one Python function each.

Between two jumps, most of what a Solidity contract runs is PUSH, DUP, SWAP,
POP and arithmetic: opcodes with a fixed gas cost that only move stack items.
:func:`vm.interpreter._run` dispatches each of them separately, reading the
opcode, its cost and its kind, and checking the gas and the stack, about
ten Python steps before the opcode's own line. A *segment* is such a run,
from one position up to the first opcode that is not of that kind (or a JUMP
or JUMPI, which it includes). A jump whose destination is a constant pushed
in the same run (an internal function call, or its return when the caller
pushed the return address in the run) does not end it: the run goes on at
the destination, until it would take an opcode a second time. A segment is
translated once into a Python function that keeps the stack items in local
variables and writes the result back to the stack's list in one step, so the
loop pays its checks once per segment:

* **gas:** every opcode in a segment has a fixed cost, so the segment's cost
  is their sum. With at least that much gas left, no opcode in it can run
  out; with less, the loop steps through opcode by opcode and fails exactly
  where py-evm does.
* **stack:** the deepest item a segment reads and the highest the stack grows
  are known before it runs. If an opcode in it would underflow or overflow,
  the loop steps through instead, so the error is py-evm's own.
* **jumps:** a segment's JUMP or JUMPI checks its destination against the
  code's JUMPDEST positions (not inside PUSH data). An invalid one raises
  :class:`BadJump`; the loop then raises py-evm's own error for it.
* **memory:** MLOAD and MSTORE run in a segment when the word is inside
  memory already paid for. Otherwise (the memory must grow, at a cost that
  depends on its size) the segment stops before the opcode: it writes the
  stack back as it is there and returns the opcode's position as ``~pc``,
  and the loop gives back the gas of the opcodes not run
  (``Segment.unspent``) and runs that one opcode itself.

The stack a segment leaves is item for item what stepping would leave:
pushed bytes stay the same bytes, results are ints. Only code that has run
:data:`HOT_AFTER_RUNS` times is compiled (a contract's creation code usually
runs once), and only the segments reached. What an opcode computes is given
by :mod:`vm.interpreter` (``SegmentOp``), which maps the opcodes it runs
inline to the descriptions here.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from eth.constants import UINT_256_MAX
from eth.vm.stack import to_bytes, to_int

#: Runs of the same code before its segments are compiled (0: from the first run).
HOT_AFTER_RUNS = 1
#: Codes whose segments are kept; the oldest is dropped past this.
CODE_LIMIT = 256
#: Opcodes in one segment at most (bounds the size of a generated function).
SEGMENT_LIMIT = 256
#: The EVM's stack limit (py-evm's ``Stack`` writes it as ``> 1023``).
STACK_LIMIT = 1024


class BadJump(Exception):
    """A segment's JUMP or JUMPI to a position that is not a JUMPDEST; the loop raises py-evm's error for it."""

    def __init__(self, destination: int) -> None:
        super().__init__(destination)
        self.destination = destination


class SegmentOp(NamedTuple):
    """What one opcode does inside a segment.

    ``kind`` is one of ``push`` (``size`` bytes of immediate data), ``dup``,
    ``swap`` (``size`` is the position), ``pop``, ``nop``, ``binary``,
    ``unary``, ``jump``, ``jumpi``, ``read`` (push ``expression``, read from
    ``msg``), ``calldataload``, ``mload`` or ``mstore``. ``operator``
    computes a binary or unary result on ints; ``expression``, if given, is the same computation
    written over ``{a}`` (the top item) and ``{b}`` (the second), or the
    message read. ``is_int`` says whether a read gives an int.
    """

    kind: str
    gas: int
    size: int = 0
    operator: Callable[..., int] | None = None
    expression: str | None = None
    is_int: bool = True


class Segment(NamedTuple):
    """A compiled run.

    ``run(values, msg, memory)`` applies it and returns the next program
    counter, or ``~pc`` when it stopped before the memory opcode at ``pc``;
    ``unspent[pc]`` is then the gas of the opcodes it did not run.
    """

    run: Callable[[list[Any], Any, Any], int] | None
    gas: int
    need: int  # stack items it reads below the top at entry
    room: int  # the most items the stack may hold at entry
    unspent: dict[int, int]


#: No segment starts here (the first opcode is not one a segment can hold).
NO_SEGMENT = Segment(None, 1 << 256, 0, 0, {})


def jump_destinations(raw: bytes) -> frozenset[int]:
    """Positions of JUMPDEST (0x5b) opcodes that are not PUSH data: py-evm's valid jump targets."""
    found = []
    position, length = 0, len(raw)
    while position < length:
        opcode = raw[position]
        if opcode == 0x5B:
            found.append(position)
        elif 0x60 <= opcode <= 0x7F:
            position += opcode - 0x5F
        position += 1
    return frozenset(found)


class _Value:
    """A stack item during compilation: how to write it back (``raw``) and how to read it as an int."""

    __slots__ = ("raw", "as_int", "entry_depth")

    def __init__(self, raw: str, as_int: str | None, entry_depth: int = 0) -> None:
        self.raw = raw
        self.as_int = as_int  # None until converted (an item whose int value needs to_int)
        self.entry_depth = entry_depth  # n for the item at values[-n] on entry, else 0


class _Compiler:
    """Symbolic execution of one segment into Python source lines."""

    def __init__(self, raw: bytes, start: int, table: list[SegmentOp | None], jumpdests: frozenset[int]) -> None:
        self.raw, self.start, self.table, self.jumpdests = raw, start, table, jumpdests
        self.stack: list[_Value] = []
        self.entries = 0  # items read from below the entry top so far
        self.peak = 0  # the most the stack grows above its height at entry
        self.lines: list[str] = []
        self.constants: list[Any] = []
        self.temporaries = 0
        self.stops: dict[int, int] = {}  # position of a memory opcode it may stop before -> gas spent before it

    # -- items ---------------------------------------------------------------
    def _take(self, count: int) -> None:
        """Make sure the symbolic stack holds ``count`` items, reading deeper entry items as needed."""
        while len(self.stack) < count:
            self.entries += 1
            depth = self.entries
            self.stack.insert(0, _Value(f"e{depth}", None, depth))

    def _pop(self) -> _Value:
        self._take(1)
        return self.stack.pop()

    def _push(self, value: _Value) -> None:
        self.stack.append(value)
        self.peak = max(self.peak, len(self.stack) - self.entries)

    def _int(self, value: _Value) -> str:
        """An expression for ``value`` as an int, converting it once (py-evm's to_int) if it may be bytes."""
        if value.as_int is None:
            name = self._temporary()
            raw = value.raw
            self.lines.append(f"{name} = {raw} if {raw}.__class__ is int else "
                              f"from_bytes({raw}, 'big') if {raw}.__class__ is bytes else to_int({raw})")
            value.as_int = name
        return value.as_int

    def _temporary(self) -> str:
        self.temporaries += 1
        return f"t{self.temporaries}"

    def _constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"c{len(self.constants) - 1}"

    def _assign(self, expression: str, is_int: bool) -> _Value:
        """A new local holding ``expression``; ``is_int`` if it is an int already (else converted when used as one)."""
        name = self._temporary()
        self.lines.append(f"{name} = {expression}")
        return _Value(name, name if is_int else None)

    # -- opcodes -------------------------------------------------------------
    def compile(self) -> Segment:
        raw, table = self.raw, self.table
        length = len(raw)
        position, gas, count = self.start, 0, 0
        ending: list[str] = []
        visited: set[int] = set()  # a run never takes an opcode twice (no loops inside one)
        while position < length and count < SEGMENT_LIMIT and position not in visited:
            spec = table[raw[position]]
            if spec is None:
                break
            visited.add(position)
            count += 1
            kind = spec.kind
            if kind == "mload" or kind == "mstore":
                self._stop_unless_paid(position, gas)
            gas += spec.gas
            position += 1
            if kind == "push":
                data = raw[position:position + spec.size]
                position += spec.size
                if len(data) != spec.size:
                    data = data.ljust(spec.size, b"\x00")
                self._push(_Value(self._constant(data), repr(int.from_bytes(data, "big"))))
            elif kind == "dup":
                self._take(spec.size)
                self._push(self.stack[-spec.size])
            elif kind == "swap":
                self._take(spec.size + 1)
                stack = self.stack
                stack[-1], stack[-spec.size - 1] = stack[-spec.size - 1], stack[-1]
            elif kind == "pop":
                self._pop()
            elif kind == "nop":
                pass
            elif kind == "binary":
                top, second = self._pop(), self._pop()
                self._push(self._operate(spec, [top, second]))
            elif kind == "unary":
                self._push(self._operate(spec, [self._pop()]))
            elif kind == "read":
                if spec.expression is None:
                    raise ValueError(f"segment table: a read without an expression at {position}")
                self._push(self._assign(spec.expression, spec.is_int))
            elif kind == "calldataload":
                start = self._int(self._pop())
                self._push(self._assign(
                    f"bytes(msg.data[{start}:{start} + 32]).ljust(32, b'\\x00').lstrip(b'\\x00')", False))
            elif kind == "mload":
                start = self._int(self._pop())
                self._push(self._assign(f"bytes(mem[{start}:{start} + 32])", False))
            elif kind == "mstore":
                start, value = self._int(self._pop()), self._pop()
                if value.as_int is not None and value.as_int.isdigit():  # a constant
                    word = self._constant(int(value.as_int).to_bytes(32, "big"))
                elif value.as_int == value.raw:
                    word = f"{value.raw}.to_bytes(32, 'big')"
                else:
                    word = (f"{value.raw}.to_bytes(32, 'big') if {value.raw}.__class__ is int "
                            f"else to_bytes({value.raw}).rjust(32, b'\\x00')[-32:]")
                self.lines.append(f"mem[{start}:{start} + 32] = {word}")
            elif kind == "jump" or kind == "jumpi":
                destination = self._pop()
                if kind == "jumpi":
                    flag = self._int(self._pop())
                    if not flag.isdigit():
                        ending = self._jumpi(destination, flag, position)
                        break
                    if not int(flag):
                        continue  # never taken: the run goes on after it
                target = self._known_target(destination)
                if target is not None:  # a jump to a known JUMPDEST: the run goes on there
                    position = target
                    continue
                ending = self._jump(destination)
                break
            else:  # pragma: no cover - the table is built from the kinds above
                raise ValueError(f"unknown segment kind {kind!r}")
        if count == 0:
            return NO_SEGMENT
        source = self._source(ending or [f"return {position}"])
        namespace: dict[str, Any] = {
            "from_bytes": int.from_bytes, "to_int": to_int, "to_bytes": to_bytes, "BadJump": BadJump,
            "M": UINT_256_MAX, "J": self.jumpdests,
        }
        namespace.update((f"c{index}", value) for index, value in enumerate(self.constants))
        exec(compile(source, f"<segment at {self.start}>", "exec"), namespace)  # our own template, not input
        unspent = {stop: gas - spent for stop, spent in self.stops.items()}
        return Segment(namespace["segment"], gas, self.entries, STACK_LIMIT - self.peak, unspent)

    def _stop_unless_paid(self, position: int, spent: int) -> None:
        """Before MLOAD or MSTORE: unless its word is inside memory, write the stack back and stop here."""
        self._take(1)
        start = self._int(self.stack[-1])
        self.lines.append(f"if {start} + 32 > len(mem):")
        self.lines.extend(f"    {line}" for line in self._write_back())
        self.lines.append(f"    return ~{position}")
        self.stops[position] = spent

    def _known_target(self, destination: _Value) -> int | None:
        """The destination, if it is a constant that is a valid JUMPDEST."""
        target = self._int(destination)
        if target.isdigit() and int(target) in self.jumpdests:
            return int(target)
        return None

    def _operate(self, spec: SegmentOp, operands: list[_Value]) -> _Value:
        """A binary or unary operator on ``operands`` (the top item first), folded when all are constants."""
        ints = [self._int(operand) for operand in operands]
        if spec.operator is None:
            raise ValueError(f"segment table: a {spec.kind} operator without its function")
        if all(value.isdigit() for value in ints):
            folded = repr(spec.operator(*map(int, ints)))
            return _Value(folded, folded)
        if spec.expression is not None:
            # A unary operator has only operand a.
            return self._assign(spec.expression.format(**dict(zip("ab", ints, strict=False))), True)
        return self._assign(f"{self._constant(spec.operator)}({', '.join(ints)})", True)

    def _jump(self, destination: _Value) -> list[str]:
        target = self._int(destination)
        if target.isdigit():
            if int(target) in self.jumpdests:
                return [f"return {target}"]
            return [f"raise BadJump({target})"]
        return [f"if {target} in J:", f"    return {target}", f"raise BadJump({target})"]

    def _jumpi(self, destination: _Value, flag: str, fallthrough: int) -> list[str]:
        """A JUMPI on ``flag`` (an int expression, not a constant)."""
        return [f"if {flag}:"] + [f"    {line}" for line in self._jump(destination)] + [f"return {fallthrough}"]

    def _source(self, ending: list[str]) -> str:
        """The function: read the entry items, compute, write the changed part of the stack back, go on."""
        reads = [f"e{depth} = values[-{depth}]" for depth in range(1, self.entries + 1)]
        if self.stops:
            reads.append("mem = memory._bytes")
        body = reads + self.lines + self._write_back() + ending
        return "def segment(values, msg, memory):\n" + "".join(f"    {line}\n" for line in body)

    def _write_back(self) -> list[str]:
        """Lines that make the stack's list what the symbolic stack says it is now."""
        stack, entries = self.stack, self.entries
        kept = 0  # entry items still in their own place, from the bottom
        while kept < entries and kept < len(stack) and stack[kept].entry_depth == entries - kept:
            kept += 1
        changed = entries - kept
        pushed = [value.raw for value in stack[kept:]]
        if changed:
            return [f"values[-{changed}:] = ({', '.join(pushed)},)" if pushed else f"del values[-{changed}:]"]
        if len(pushed) == 1:
            return [f"values.append({pushed[0]})"]
        if pushed:
            return [f"values.extend(({', '.join(pushed)},))"]
        return []


class CodeSegments:
    """The segments of one code, compiled as the loop reaches them."""

    __slots__ = ("raw", "runs", "segments", "_jumpdests")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.runs = 0
        self.segments: dict[int, Segment] = {}
        self._jumpdests: frozenset[int] | None = None

    def compile_at(self, position: int, table: list[SegmentOp | None]) -> Segment:
        if self._jumpdests is None:
            self._jumpdests = jump_destinations(self.raw)
        segment = self.segments[position] = _Compiler(self.raw, position, table, self._jumpdests).compile()
        return segment


def evict_oldest(cache: dict[Any, Any]) -> None:
    """Drop ``cache``'s oldest entry.

    Caches of this kind are shared by the consensus thread and the RPC worker
    threads (``node.rpc.workers``): another thread may evict the same entry,
    or change the dict, between the two steps, which is harmless here.
    """
    try:
        cache.pop(next(iter(cache)), None)
    except (StopIteration, RuntimeError):  # emptied, or changed size while read
        pass


def code_segments(cache: dict[bytes, CodeSegments], raw: bytes) -> CodeSegments:
    """``raw``'s entry in ``cache`` (one cache per opcode table), counting this run."""
    entry = cache.get(raw)
    if entry is None:
        if len(cache) >= CODE_LIMIT:
            evict_oldest(cache)
        entry = cache[raw] = CodeSegments(raw)
    entry.runs += 1
    return entry
