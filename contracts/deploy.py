"""Deploy Settle's contracts over JSON-RPC and keep a record of where they went.

The Python face of the contract suite is plain web3.py: :func:`deploy` sends the constructor
transaction for a committed artifact and returns a :class:`Deployment`; :func:`contract_at` binds
an artifact's ABI to an address. No generated bindings: web3.py reads the ABI at run time, which is
less code than generating and keeping bindings in step with the artifacts.

A deployment record is a JSON file with one entry per deployed contract (name, address,
transaction, block, chain id, deployer, constructor arguments); :func:`deploy` appends to it so a
script that deploys a whole suite leaves one file describing it.

Transactions are signed either by a private key held here (``private_key``) or by an account the
node holds unlocked (``sender``, e.g. the dev chain's prefunded accounts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import is_address, to_checksum_address
from web3 import Web3
from web3.contract import Contract

from contracts.compiler import ContractsError, load_artifact

__all__ = [
    "DeployError",
    "Deployment",
    "connect",
    "contract_at",
    "deploy",
    "parse_constructor_args",
    "send",
]

RECEIPT_TIMEOUT = 60.0


class DeployError(ContractsError):
    """A deployment could not be sent or did not succeed."""


@dataclass(frozen=True)
class Deployment:
    """Where one contract went."""

    name: str
    """Artifact (contract) name."""
    address: str
    """Checksummed contract address."""
    transaction_hash: str
    """0x-hex hash of the creation transaction."""
    block_number: int
    """Block that included it."""
    chain_id: int
    """Chain it lives on."""
    deployer: str
    """Checksummed sender of the creation transaction."""
    args: list[Any]
    """Constructor arguments, JSON-encodable (bytes as 0x-hex)."""
    gas_used: int
    """Gas the creation used."""


def connect(rpc_url: str) -> Web3:
    """A web3.py client of the node at ``rpc_url``; raises DeployError if it does not answer."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    try:
        _ = w3.eth.chain_id  # the cheapest call that proves a JSON-RPC node answers
    except Exception as exc:  # connection refused, bad URL, not JSON-RPC: all the same to the caller
        raise DeployError(f"no JSON-RPC node at {rpc_url}: {exc}") from None
    return w3


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """The committed artifact ``name`` bound to ``address``."""
    return w3.eth.contract(address=to_checksum_address(address), abi=load_artifact(name).abi)


def send(
    w3: Web3,
    call: Any,
    *,
    sender: str | None = None,
    private_key: bytes | str | None = None,
    gas: int | None = None,
) -> Any:
    """Send a web3 contract call or constructor as a transaction and return its successful receipt.

    Exactly one of ``sender`` (an account the node holds unlocked) or ``private_key`` signs it.
    ``gas`` skips estimation (which re-executes the call a few dozen times on the node).
    """
    if (sender is None) == (private_key is None):
        raise DeployError("give exactly one of sender (an unlocked account) or private_key")
    params: dict[str, Any] = {} if gas is None else {"gas": gas}
    try:
        if private_key is not None:
            account = Account.from_key(private_key)
            tx = call.build_transaction({
                **params,
                "from": account.address,
                "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            })
            tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        else:
            assert sender is not None  # exactly one of the two, checked above
            tx_hash = call.transact({**params, "from": to_checksum_address(sender)})
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT, poll_latency=0.05)
    except DeployError:
        raise
    except Exception as exc:  # reverts in gas estimation, RPC errors: report, never a traceback
        raise DeployError(f"transaction failed: {exc}") from None
    if receipt["status"] != 1:
        raise DeployError(f"transaction {tx_hash.to_0x_hex()} reverted")
    return receipt


def deploy(
    w3: Web3,
    name: str,
    *args: Any,
    sender: str | None = None,
    private_key: bytes | str | None = None,
    record: Path | str | None = None,
    gas: int | None = None,
) -> Deployment:
    """Deploy the committed artifact ``name`` with constructor ``args``; append to ``record`` if given."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    try:
        constructor = factory.constructor(*args)
    except Exception as exc:  # wrong number or types of arguments
        raise DeployError(f"bad constructor arguments for {name}: {exc}") from None
    receipt = send(w3, constructor, sender=sender, private_key=private_key, gas=gas)
    deployment = Deployment(
        name=name,
        address=receipt.contractAddress,
        transaction_hash=receipt.transactionHash.to_0x_hex(),
        block_number=receipt.blockNumber,
        chain_id=w3.eth.chain_id,
        deployer=receipt["from"],
        args=[_jsonable(arg) for arg in args],
        gas_used=receipt.gasUsed,
    )
    if record is not None:
        append_record(Path(record), deployment)
    return deployment


def append_record(path: Path, deployment: Deployment) -> None:
    """Add ``deployment`` to the JSON record at ``path`` (created if missing)."""
    entries: list[dict[str, Any]] = []
    if path.exists():
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["deployments"]
        except (ValueError, KeyError, TypeError):
            raise DeployError(f"{path} is not a deployment record; refusing to overwrite it") from None
    entries.append(asdict(deployment))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"deployments": entries}, indent=2) + "\n", encoding="utf-8")


def parse_constructor_args(name: str, raw: Sequence[str]) -> list[Any]:
    """Turn command-line strings into the Python values ``name``'s constructor expects.

    Scalars are written plainly (``0xabc…``, ``42``, ``true``, text); arrays and tuples (structs) as
    JSON (``'["0x…","0x…"]'``, ``'[1, 2]'``). Integers are decimal (``1_000`` allowed) or 0x-hex.
    """
    abi = load_artifact(name).abi
    inputs: list[dict[str, Any]] = next((item["inputs"] for item in abi if item["type"] == "constructor"), [])
    if len(raw) != len(inputs):
        wanted = ", ".join(f"{i['type']} {i['name']}" for i in inputs) or "none"
        raise DeployError(f"{name} takes {len(inputs)} constructor arguments ({wanted}), got {len(raw)}")
    return [_convert(spec, _maybe_json(spec, text)) for spec, text in zip(inputs, raw, strict=True)]


def _maybe_json(spec: dict[str, Any], text: str) -> Any:
    if spec["type"].endswith("]") or spec["type"] == "tuple":
        try:
            return json.loads(text)
        except ValueError:
            raise DeployError(f"argument {spec['name']} ({spec['type']}) must be JSON, got {text!r}") from None
    return text


def _convert(spec: dict[str, Any], value: Any) -> Any:
    kind: str = spec["type"]
    label = f"argument {spec['name'] or '?'} ({kind})"
    if kind.endswith("]"):
        if not isinstance(value, list):
            raise DeployError(f"{label} must be a JSON list")
        inner = {**spec, "type": kind[: kind.rindex("[")]}
        return [_convert(inner, item) for item in value]
    if kind == "tuple":
        components = spec["components"]
        if isinstance(value, dict):
            value = [value.get(c["name"]) for c in components]
        if not isinstance(value, list) or len(value) != len(components):
            raise DeployError(f"{label} must be a JSON list or object with {len(components)} fields")
        return tuple(_convert(c, v) for c, v in zip(components, value, strict=True))
    text = str(value) if not isinstance(value, bool) else ("true" if value else "false")
    if kind == "address":
        if not is_address(text):
            raise DeployError(f"{label} is not an address: {text!r}")
        return to_checksum_address(text)
    if kind.startswith(("uint", "int")):
        try:
            return int(text, 0) if text.lower().startswith("0x") else int(text.replace("_", ""))
        except ValueError:
            raise DeployError(f"{label} is not an integer: {text!r}") from None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise DeployError(f"{label} must be true or false, got {text!r}")
        return text.lower() == "true"
    if kind.startswith("bytes"):
        try:
            data = bytes.fromhex(text[2:] if text.startswith("0x") else text)
        except ValueError:
            raise DeployError(f"{label} is not hex: {text!r}") from None
        size = kind[5:]
        if size and len(data) != int(size):
            raise DeployError(f"{label} needs {size} bytes, got {len(data)}")
        return data
    return text  # string


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value
