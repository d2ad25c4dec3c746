"""Operator commands for the permission registry: ``settle validators …`` and ``settle members …``.

Each change is an ordinary transaction to the registry (docs/permissioning.md), signed with the
operator's key file (32-byte hex, as ``settle keys generate`` writes ``account.key``) and sent to a
node's JSON-RPC. The call is simulated first (``eth_call``), so a refused change is answered with the
registry's own error (``InvalidProofOfPossession``, ``NotValidator``…) and nothing is sent.
"""
from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import click
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from genesis.model import DEFAULT_REGISTRY_ADDRESS
from genesis.system import ADMIN, AUDITOR, DEPLOYER, MEMBER, VALIDATOR

ROLE_NAMES = ((MEMBER, "member"), (DEPLOYER, "deployer"), (AUDITOR, "auditor"), (ADMIN, "admin"),
              (VALIDATOR, "validator"))
PROPOSED_TOPIC = "0x" + keccak(text="Proposed(uint256,uint8,address,uint256,address)").hex()
EXECUTED_TOPIC = "0x" + keccak(text="Executed(uint256)").hex()


class GovernanceError(click.ClickException):
    """A refused or failed governance command: one line, exit status 1."""


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except OSError as exc:
        raise GovernanceError(f"{url}: {exc}") from None
    if "error" in answer:
        raise _RpcFailure(answer["error"])
    return answer["result"]


class _RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "error"))
        self.error = error


def _registry_errors() -> dict[str, str]:
    from contracts.compiler import load_artifact

    errors = {}
    for item in load_artifact("PermissionRegistry").abi:
        if item.get("type") == "error":
            signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            errors["0x" + function_signature_to_4byte_selector(signature).hex()] = signature
    return errors


def _explain(error: dict[str, Any]) -> str:
    data = error.get("data")
    if isinstance(data, str) and len(data) >= 10:
        signature = _registry_errors().get(data[:10])
        if signature is not None:
            types = signature[signature.index("(") + 1:-1]
            values = decode([t for t in types.split(",") if t], bytes.fromhex(data[10:])) if types else ()
            shown = ", ".join(to_checksum_address(v) if isinstance(v, str) and v.startswith("0x") and len(v) == 42
                              else str(v) for v in values)
            return f"{signature.split('(')[0]}({shown})"
    return str(error.get("message", error))


def _call(url: str, signature: str, types: list[str], args: list[Any], out: list[str]) -> tuple[Any, ...]:
    data = function_signature_to_4byte_selector(signature) + encode(types, args)
    to = to_checksum_address(DEFAULT_REGISTRY_ADDRESS)
    result = _rpc(url, "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"])
    return tuple(decode(out, bytes.fromhex(result[2:])))


def _send(url: str, key_file: Path, signature: str, types: list[str], args: list[Any]) -> None:
    """Simulate, sign, send and wait for the receipt; print the proposal id and whether it passed."""
    from eth_account import Account

    from genesis.errors import GenesisError
    from genesis.keys import read_key_file

    try:
        key = read_key_file(key_file, "operator")
    except GenesisError as exc:
        raise GovernanceError(str(exc)) from None
    sender = Account.from_key(key).address
    data = "0x" + (function_signature_to_4byte_selector(signature) + encode(types, args)).hex()
    to = to_checksum_address(DEFAULT_REGISTRY_ADDRESS)
    try:
        _rpc(url, "eth_call", [{"from": sender, "to": to, "data": data}, "latest"])
        fields = {
            "chainId": int(_rpc(url, "eth_chainId", []), 16),
            "nonce": int(_rpc(url, "eth_getTransactionCount", [sender, "pending"]), 16),
            "to": to, "value": 0, "gas": 2_000_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "type": 2,
            "data": data,
        }
        raw = Account.sign_transaction(fields, key).raw_transaction
        tx_hash = _rpc(url, "eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
    except _RpcFailure as failure:
        raise GovernanceError(f"{signature.split('(')[0]} refused: {_explain(failure.error)}") from None
    deadline = time.monotonic() + 60
    receipt = None
    while receipt is None and time.monotonic() < deadline:
        receipt = _rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is None:
            time.sleep(0.2)
    if receipt is None:
        raise GovernanceError(f"transaction {tx_hash} not included within 60 s")
    if receipt["status"] != "0x1":
        raise GovernanceError(f"transaction {tx_hash} reverted in block {int(receipt['blockNumber'], 16)}")
    click.echo(f"transaction {tx_hash} in block {int(receipt['blockNumber'], 16)}")
    for log in receipt["logs"]:
        if log["topics"] and log["topics"][0] == PROPOSED_TOPIC:
            click.echo(f"proposal {int(log['topics'][1], 16)}")
        if log["topics"] and log["topics"][0] == EXECUTED_TOPIC:
            click.echo(f"proposal {int(log['topics'][1], 16)} passed and is in effect")


_rpc_option = click.option("--rpc", "url", default="http://127.0.0.1:8545", show_default=True,
                           help="A node's JSON-RPC endpoint.")
_key_option = click.option("--key-file", type=click.Path(path_type=Path), required=True,
                           help="The operator's secp256k1 key (hex), a validator's or an admin's account.key.")


def _address(value: str) -> str:
    try:
        return to_checksum_address(value)
    except ValueError:
        raise click.BadParameter(f"not an address: {value}") from None


@click.group()
def validators() -> None:
    """The validator set in the permission registry (docs/permissioning.md)."""


@validators.command("list")
@_rpc_option
def validators_list(url: str) -> None:
    """The current validators, in proposer order, with their peer ids."""
    try:
        (addresses,) = _call(url, "validators()", [], [], ["address[]"])
        (needed,) = _call(url, "votesNeeded()", [], [], ["uint256"])
        for address in addresses:
            _, _, peer_id = _call(url, "validatorInfo(address)", ["address"], [address], ["bytes", "bytes", "string"])
            click.echo(f"{to_checksum_address(address)} {peer_id}")
    except _RpcFailure as failure:
        raise GovernanceError(_explain(failure.error)) from None
    click.echo(f"{len(addresses)} validators; a proposal passes with {needed} votes")


@validators.command("propose-add")
@_rpc_option
@_key_option
@click.option("--entry", type=click.Path(path_type=Path, exists=True), required=True,
              help="The new validator's validator.json (settle keys generate / keys show).")
def validators_propose_add(url: str, key_file: Path, entry: Path) -> None:
    """Propose a new validator; its BLS proof of possession is checked by the registry."""
    try:
        document = json.loads(entry.read_text())
        args = [_address(document["address"]), bytes.fromhex(document["blsPublicKey"].removeprefix("0x")),
                bytes.fromhex(document.get("blsProofOfPossession", "").removeprefix("0x")), document["peerId"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GovernanceError(f"{entry}: not a validator entry ({exc})") from None
    _send(url, key_file, "proposeAddValidator(address,bytes,bytes,string)", ["address", "bytes", "bytes", "string"],
          args)


@validators.command("propose-remove")
@_rpc_option
@_key_option
@click.option("--address", required=True, help="The validator to remove.")
def validators_propose_remove(url: str, key_file: Path, address: str) -> None:
    """Propose removing a validator."""
    _send(url, key_file, "proposeRemoveValidator(address)", ["address"], [_address(address)])


@validators.command("vote")
@_rpc_option
@_key_option
@click.option("--id", "proposal", type=click.IntRange(1), required=True, help="The proposal id.")
def validators_vote(url: str, key_file: Path, proposal: int) -> None:
    """Vote for a proposal (any kind) as a current validator."""
    _send(url, key_file, "vote(uint256)", ["uint256"], [proposal])


@click.group()
def members() -> None:
    """Members and deployers in the permission registry (docs/permissioning.md)."""


def _roles(deployer: bool) -> int:
    return MEMBER | DEPLOYER if deployer else MEMBER


@members.command("add")
@_rpc_option
@_key_option
@click.option("--address", required=True)
@click.option("--deployer", is_flag=True, help="Also allow it to create contracts.")
def members_add(url: str, key_file: Path, address: str, deployer: bool) -> None:
    """Propose granting membership (and deployment); a validator's proposal carries its vote."""
    _send(url, key_file, "proposeGrant(address,uint256)", ["address", "uint256"], [_address(address), _roles(deployer)])


@members.command("remove")
@_rpc_option
@_key_option
@click.option("--address", required=True)
@click.option("--deployer-only", is_flag=True, help="Revoke only the right to create contracts.")
def members_remove(url: str, key_file: Path, address: str, deployer_only: bool) -> None:
    """Propose revoking membership (and deployment), or deployment only."""
    roles = DEPLOYER if deployer_only else MEMBER | DEPLOYER
    _send(url, key_file, "proposeRevoke(address,uint256)", ["address", "uint256"], [_address(address), roles])


@members.command("list")
@_rpc_option
def members_list(url: str) -> None:
    """Every account holding a role, with its roles, and whether membership and deployment are open."""
    try:
        addresses, roles = _call(url, "accounts()", [], [], ["address[]", "uint256[]"])
        (open_membership,) = _call(url, "openMembership()", [], [], ["bool"])
        (open_deployment,) = _call(url, "openDeployment()", [], [], ["bool"])
    except _RpcFailure as failure:
        raise GovernanceError(_explain(failure.error)) from None
    for address, bits in zip(addresses, roles, strict=True):
        names = [name for bit, name in ROLE_NAMES if bits & bit]
        click.echo(f"{to_checksum_address(address)} {','.join(names) or '-'}")
    click.echo(f"membership {'open' if open_membership else 'closed'}, "
               f"deployment {'open' if open_deployment else 'closed'}")
