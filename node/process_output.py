"""A child process's output, copied to its log file by a thread that reports each line.

A supervisor that lets a child write its log file directly can only learn what
the child said (that it is ready, that it exited) by reading the file again
and again. Reading the child's pipe instead lets it react to each line as it
is written, and to the end of the output when the child exits.
"""
from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path


def copy_output(process: subprocess.Popen, log_path: Path, on_line: Callable[[str], None],
                on_exit: Callable[[int], None]) -> threading.Thread:
    """Start a daemon thread that appends ``process.stdout`` (a binary pipe) to ``log_path``.

    ``on_line(text)`` runs after each line is written and flushed, so the log
    already holds it; ``on_exit(returncode)`` runs once, after the pipe closes
    and the process has exited. Both run on the thread.
    """
    stdout = process.stdout
    if stdout is None:
        raise ValueError("the process's stdout must be a pipe (stdout=subprocess.PIPE)")

    def copy() -> None:
        with open(log_path, "ab") as log:
            for raw in stdout:
                log.write(raw)
                log.flush()
                on_line(raw.decode(errors="replace"))
        stdout.close()
        on_exit(process.wait())

    thread = threading.Thread(target=copy, name=f"output of pid {process.pid}", daemon=True)
    thread.start()
    return thread
