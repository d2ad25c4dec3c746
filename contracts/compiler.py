"""Compile Settle's Solidity sources and load the committed build artifacts.

Compilation needs Node.js and the npm packages pinned in ``contracts/package.json``
(solcjs + OpenZeppelin); it is a developer/CI step. The resulting
``contracts/build/<ContractName>.json`` files are committed, so running a node or
loading an artifact with :func:`load_artifact` needs only Python.

Run ``python -m contracts.compiler`` (or ``settle contracts compile``) to rebuild.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BUILD_DIR",
    "CONTRACTS_DIR",
    "SOLC_SETTINGS",
    "SRC_DIR",
    "Artifact",
    "ArtifactNotFound",
    "CompileError",
    "ContractsError",
    "ToolchainError",
    "ToolchainMissing",
    "available_artifacts",
    "compile_all",
    "load_artifact",
    "main",
    "npm_install_if_needed",
]

log = logging.getLogger(__name__)

CONTRACTS_DIR = Path(__file__).resolve().parent
SRC_DIR = CONTRACTS_DIR / "src"
BUILD_DIR = CONTRACTS_DIR / "build"
NODE_MODULES = CONTRACTS_DIR / "node_modules"
COMPILE_JS = CONTRACTS_DIR / "compile.js"

EVM_VERSION = "prague"
OPTIMIZER: dict[str, Any] = {"enabled": True, "runs": 200}

#: solc standard-JSON ``settings``. evmVersion is pinned to prague because solc
#: 0.8.37 defaults to osaka, which our py-evm cannot execute. bytecodeHash "none"
#: drops the IPFS metadata hash so bytecode does not depend on comments/paths,
#: keeping builds byte-for-byte reproducible across machines.
SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": OPTIMIZER,
    "evmVersion": EVM_VERSION,
    "metadata": {"bytecodeHash": "none"},
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]},
    },
}


class ContractsError(Exception):
    """Root of every error raised by this package."""


class CompileError(ContractsError):
    """solc reported at least one error-severity diagnostic."""


class ToolchainError(ContractsError):
    """Node.js/npm/solc could not be run successfully."""


class ToolchainMissing(ToolchainError):
    """``node`` or ``npm`` is not on PATH."""


class ArtifactNotFound(ContractsError):
    """No committed build artifact exists for the requested contract."""


@dataclass(frozen=True)
class Artifact:
    """A compiled contract: what a deployer or ABI encoder needs."""

    name: str
    source_name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        return cls(
            name=data["contractName"],
            source_name=data["sourceName"],
            abi=data["abi"],
            bytecode=_unhex(data["bytecode"]),
            deployed_bytecode=_unhex(data["deployedBytecode"]),
        )


def _unhex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainMissing(
            f"`{name}` is not on PATH; compiling contracts needs Node.js and npm "
            "(committed artifacts in contracts/build load without them)"
        )
    return path


def _deps_installed(contracts_dir: Path) -> bool:
    """True if every dependency in package.json is in node_modules at the pinned version."""
    package = json.loads((contracts_dir / "package.json").read_text())
    for dep, wanted in package.get("dependencies", {}).items():
        installed = contracts_dir / "node_modules" / dep / "package.json"
        if not installed.is_file() or json.loads(installed.read_text()).get("version") != wanted:
            return False
    return True


def npm_install_if_needed(contracts_dir: Path = CONTRACTS_DIR) -> bool:
    """Install the pinned npm packages unless already present; return True if npm ran.

    Uses ``npm ci`` when a lock file exists so CI gets exactly the locked tree.
    """
    if _deps_installed(contracts_dir):
        return False
    _require_tool("node")
    npm = _require_tool("npm")
    cmd = [npm, "ci" if (contracts_dir / "package-lock.json").is_file() else "install"]
    proc = subprocess.run(cmd, cwd=contracts_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"`{' '.join(cmd[1:])}` failed in {contracts_dir}:\n{proc.stderr}")
    return True


def _run_node(args: list[str], stdin: str | None = None) -> str:
    node = _require_tool("node")
    proc = subprocess.run(
        [node, str(COMPILE_JS), *args], input=stdin, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ToolchainError(f"compile.js failed (exit {proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def solc_version() -> str:
    """Full version string of the pinned solcjs, e.g. ``0.8.37+commit.f401782d...``."""
    return _run_node(["--version"]).strip()


def _standard_json_input(src_dir: Path) -> dict[str, Any]:
    """Build solc input with source unit names relative to ``src_dir`` (no absolute paths)."""
    sources = {
        path.relative_to(src_dir).as_posix(): {"content": path.read_text(encoding="utf-8")}
        for path in sorted(src_dir.rglob("*.sol"))
    }
    if not sources:
        raise CompileError(f"no .sol files under {src_dir}")
    return {"language": "Solidity", "sources": sources, "settings": SOLC_SETTINGS}


def _artifact_json(
    name: str, source_name: str, contract: dict[str, Any], version: str
) -> dict[str, Any]:
    return {
        "contractName": name,
        "sourceName": source_name,
        "abi": contract["abi"],
        "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
        "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
        "compiler": {"solc": version, "evmVersion": EVM_VERSION, "optimizer": OPTIMIZER},
    }


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


def compile_all(src_dir: Path = SRC_DIR, build_dir: Path = BUILD_DIR) -> dict[str, Artifact]:
    """Compile every ``.sol`` under ``src_dir`` in one solc run and write ``build_dir``.

    One artifact per deployable contract (non-empty bytecode) defined in ``src_dir``;
    OpenZeppelin contracts, interfaces and abstract contracts are skipped. Stale
    ``*.json`` files in ``build_dir`` are removed so the directory mirrors the sources.
    """
    src_dir, build_dir = Path(src_dir), Path(build_dir)
    npm_install_if_needed()
    solc_input = _standard_json_input(src_dir)
    output = json.loads(_run_node([], stdin=json.dumps(solc_input)))

    diagnostics = output.get("errors", [])
    errors = [d for d in diagnostics if d.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(d.get("formattedMessage", d["message"]) for d in errors))
    for warning in diagnostics:
        if warning.get("sourceLocation", {}).get("file", "") not in solc_input["sources"]:
            continue  # about a library we pin (OpenZeppelin), not our code
        log.warning("solc: %s", warning.get("formattedMessage", warning["message"]).strip())

    version = solc_version()
    files: dict[str, str] = {}
    artifacts: dict[str, Artifact] = {}
    for source_name in solc_input["sources"]:  # only ours, never node_modules
        for name, contract in sorted(output.get("contracts", {}).get(source_name, {}).items()):
            if not contract["evm"]["bytecode"]["object"]:
                continue  # interface or abstract contract
            if name in artifacts:
                raise CompileError(
                    f"contract name {name!r} defined in both "
                    f"{artifacts[name].source_name} and {source_name}"
                )
            data = _artifact_json(name, source_name, contract, version)
            files[f"{name}.json"] = _dump(data)
            artifacts[name] = Artifact.from_json(data)

    build_dir.mkdir(parents=True, exist_ok=True)
    for stale in build_dir.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for filename, text in files.items():
        (build_dir / filename).write_text(text, encoding="utf-8")
    return artifacts


def available_artifacts(build_dir: Path = BUILD_DIR) -> list[str]:
    """Names of the contracts with an artifact in ``build_dir``, sorted."""
    return sorted(p.stem for p in Path(build_dir).glob("*.json"))


def load_artifact(name: str, build_dir: Path = BUILD_DIR) -> Artifact:
    """Load a committed artifact by contract name; needs no Node.js."""
    path = Path(build_dir) / f"{name}.json"
    if not name.isidentifier() or not path.is_file():
        available = ", ".join(available_artifacts(build_dir)) or "none"
        raise ArtifactNotFound(
            f"no artifact for contract {name!r} in {build_dir} (available: {available}); "
            "run `settle contracts compile`"
        )
    return Artifact.from_json(json.loads(path.read_text(encoding="utf-8")))


def main() -> int:
    """CLI: compile everything and print one line per artifact."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        artifacts = compile_all()
    except ContractsError as exc:
        print(exc, file=sys.stderr)
        return 1
    for name, artifact in sorted(artifacts.items()):
        print(f"{name}: {artifact.source_name} -> {BUILD_DIR / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
