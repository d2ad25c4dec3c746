"""The end-to-end tests' process watching: waits wake on a child's output, never on a timer."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.e2e.node_process import WatchedProcess, free_port_range, wait_for_output, wait_until

# A child that says "hello", then prints each line it is given, and says "bye" and exits on "quit".
ECHO = textwrap.dedent("""
    import sys
    print("hello", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            print("bye", flush=True)
            sys.exit(3)
        print("got " + line.strip(), flush=True)
""")


@pytest.fixture
def child(tmp_path: Path):
    process = WatchedProcess([sys.executable, "-c", ECHO], tmp_path / "child.log", stdin=subprocess.PIPE)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _say(process: WatchedProcess, line: str) -> None:
    process.stdin.write(line.encode() + b"\n")
    process.stdin.flush()


def test_a_wait_wakes_on_the_line_it_waits_for_and_the_log_has_everything(child: WatchedProcess) -> None:
    wait_for_output(child, "hello", 30)
    assert not any("got one" in line for line in child.lines())
    _say(child, "one")
    wait_for_output(child, "got one", 30)
    seen = []

    def third_line() -> bool:
        seen.append(len(child.lines()))
        return len(child.lines()) >= 3

    _say(child, "two")
    wait_until(third_line, 30, lambda: "no third line")
    assert seen[-1] == 3
    _say(child, "quit")
    assert child.wait(30) == 3
    assert child.output() == "hello\ngot one\ngot two\nbye\n"  # copied in full once waited for


def test_a_child_that_exits_first_fails_the_wait_at_once(child: WatchedProcess) -> None:
    _say(child, "quit")
    with pytest.raises(RuntimeError, match="exited with 3 before printing 'never'"):
        wait_for_output(child, "never", 600)  # a timeout would raise AssertionError instead


def test_a_wait_gives_up_at_its_deadline(child: WatchedProcess) -> None:
    wait_for_output(child, "hello", 30)
    with pytest.raises(AssertionError, match="no 'never' after 0.2s"):
        wait_for_output(child, "never", 0.2)
    assert child.poll() is None


def test_listen_ports_stay_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    bases = [free_port_range(4) for _ in range(20)]
    assert all(base + 4 <= low for base in bases)
    ports = [base + i for base in bases for i in range(4)]
    assert len(set(ports)) == len(ports), "a port handed out twice"
