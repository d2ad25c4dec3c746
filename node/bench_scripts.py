"""What the benchmark scripts in the checkout's ``scripts/`` share: loading them by path and writing results.

The benchmarks live in ``scripts/`` because they need the checkout's npm
baselines; ``settle bench …``, the tests and the scripts themselves load one
another by file path, once per process.
"""
from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


class ScriptMissing(Exception):
    """Not a source checkout: ``scripts/<name>.py`` is not there."""


def load_bench_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as module ``settle_<name>``, loaded once per process."""
    module_name = f"settle_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = SCRIPTS / f"{name}.py"
    if not path.exists():
        raise ScriptMissing(f"{path} not found: benchmarks run from a source checkout of Settle")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def write_bench_result(result: dict[str, Any], out: Path | str | None, console: Any = None) -> None:
    """Write ``result`` as indented JSON to ``out`` (creating its directory); say where on ``console``."""
    if out is None:
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    if console is not None:
        console.print(f"wrote {path}")


def summarize(values: list[float]) -> dict[str, float]:
    """A benchmark figure over repeats: median and spread."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
