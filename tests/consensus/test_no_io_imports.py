"""consensus/ must stay pure: no module may import anything that does I/O, reads a clock or draws
randomness, nor the node, vm or genesis packages (which do).

The AST scan forbids all of them in consensus code. The subprocess check looks at what importing
consensus loads: no I/O package may come in, even indirectly. (The standard library's socket,
threading and random modules do get loaded by the allowed dependencies themselves - rlp through
eth_utils, coincurve - so the scan, not sys.modules, is what keeps them out of consensus code.)"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "consensus"
FORBIDDEN = {"trio", "libp2p", "plyvel", "eth", "socket", "asyncio", "threading", "subprocess", "time", "random",
             "node", "vm", "genesis", "os", "io", "pathlib", "shutil", "tempfile", "multiprocessing", "select",
             "selectors", "urllib", "http", "requests", "httpx", "datetime", "secrets", "signal", "logging",
             "structlog"}
MODULES = sorted(PACKAGE.glob("*.py"))


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("__import__", "open"):
            roots.add(f"<call to {node.func.id}>")
    return roots


def test_every_consensus_module_is_scanned():
    names = {path.stem for path in MODULES}
    assert {"machine", "messages", "certificate", "votes", "validators", "state", "events", "actions"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_module_imports_nothing_forbidden(path):
    roots = imported_roots(path)
    assert not roots & FORBIDDEN, f"{path.name} imports {sorted(roots & FORBIDDEN)}"
    assert not any(root.startswith("<call") for root in roots), f"{path.name} calls __import__ or open"


def test_importing_consensus_loads_no_io_module():
    modules = " ".join(f"consensus.{path.stem}" for path in MODULES if path.stem != "__init__")
    script = (f"import importlib, json, sys\n"
              f"for name in {modules.split()!r}: importlib.import_module(name)\n"
              f"print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    for forbidden in ("trio", "libp2p", "plyvel", "eth", "asyncio", "node", "vm", "genesis"):
        assert forbidden not in loaded and not any(name.startswith(forbidden + ".") for name in loaded), forbidden
