"""The interpreter's recursion limit and thread stacks: enough for the EVM's 1024 call frames, no more.

Importing py_ecc runs ``sys.setrecursionlimit(100_000)`` (py-evm itself sets
12,288). With 100,000, recursion in C code (``json.loads`` of ``[[[…``, a
60,000-deep 120 KB request) overflows the C stack and the process dies with
SIGSEGV before Python can raise ``RecursionError`` (issue 22). The RPC server
bounds JSON nesting before parsing (``node/rpc/limits.py``); this module puts
the interpreter-wide limit back to what the node's own code needs, so that any
other deep input (RLP, say) ends in ``RecursionError``, an ordinary error.

What the node needs, measured on py-evm 0.12.1b1 with Settle's fork: an
``eth_call`` into a contract that calls itself to the EVM's deepest frame
(depth 1024) succeeds with a limit of 8,500 and fails with 7,000, about seven
Python frames per EVM call level; it uses under 1 MiB of C stack (it runs in a
thread with a 1 MiB stack and crashes in one of 512 KiB). The limit chosen is
py-evm's own ``EVM_RECURSION_LIMIT``, 12 frames per level, which leaves room for
the server's frames below the call and for CREATE frames.
"""
from __future__ import annotations

import sys
import threading

# Imported here so that py_ecc's own setrecursionlimit(100_000) has run before ours, never after.
import py_ecc  # noqa: F401

NODE_RECURSION_LIMIT = 12_288
"""py-evm's ``EVM_RECURSION_LIMIT`` (1024 × 12); the measured need at EVM depth 1024 is 7,000–8,500."""

THREAD_STACK_BYTES = 8 * 1024 * 1024
"""Stack of threads the node starts (e.g. to run eth_call off the consensus thread): the main
thread's usual 8 MiB, whatever ``ulimit -s`` says, against a measured need under 1 MiB."""


def bound_recursion() -> None:
    """Set the node's recursion limit and thread stack size; called once at node start-up."""
    sys.setrecursionlimit(NODE_RECURSION_LIMIT)
    threading.stack_size(THREAD_STACK_BYTES)
