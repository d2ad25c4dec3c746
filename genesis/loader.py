"""Reading, validating and writing ``genesis.json``.

The file format is geth-like JSON with camelCase keys:

* integers may be JSON numbers, decimal strings or ``0x``-hex strings (big
  balances are safer as strings: JavaScript tools lose precision above 2**53);
* byte strings are ``0x``-hex;
* addresses are lower-case hex or EIP-55 checksummed. Mixed case is taken as a
  checksum and must be correct, since a wrong one usually means a mistyped
  address that would lock funds away.

Validation is strict because every node must derive the same block 0: unknown
keys are errors (with a suggestion for typos), and every error names the field
path as written in the file, e.g. ``validators[1].blsPublicKey``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from eth_utils import to_checksum_address

from genesis.errors import (
    GenesisError,
    GenesisFieldError,
    GenesisFileError,
    GenesisJSONError,
    UnknownGenesisFieldError,
)
from genesis.keys import check_bls_proof_of_possession, check_bls_public_key, check_peer_id
from genesis.model import (
    AnchorParams,
    ConsensusParams,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    PermissionsConfig,
)

MAX_CHAIN_ID = (2**64 - 1) // 2 - 36
"""Largest chain id whose EIP-155 ``v = 2 * chainId + 36`` still fits in 64 bits (EIP-2294)."""

MIN_GAS_LIMIT = 5000
"""Smallest block gas limit py-evm's header validation accepts."""

MAX_EXTRA_DATA = 32
"""Largest ``extraData`` header validation accepts, in bytes."""

MIN_BLOCK_PERIOD_MS = 50
"""Shorter block periods leave no time for a BFT round on a real network."""

_T = TypeVar("_T")

_HEX_INT = re.compile(r"0x[0-9a-fA-F]+")
_DECIMAL_INT = re.compile(r"[0-9]+")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class _Fields:
    """Builds field paths and raises errors that name them, for one document."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, problem: str) -> NoReturn:
        raise GenesisFieldError(path, problem, self.source)

    def check_keys(
        self, obj: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Require a JSON object with only ``allowed`` keys and all ``required`` ones."""
        if not isinstance(obj, dict):
            self.fail(path or "<root>", f"expected a JSON object, got {_show(obj)}")
        for key in obj:
            if key not in allowed:
                raise UnknownGenesisFieldError(_join(path, key), key, _suggest(key, allowed), self.source)
        for key in required:
            if key not in obj:
                self.fail(_join(path, key), "missing required field")
        return obj


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _suggest(key: str, allowed: tuple[str, ...]) -> str | None:
    by_lower = {name.lower(): name for name in allowed}
    matches = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[matches[0]] if matches else None


def _show(value: Any) -> str:
    """Render a bad value the way it looked in the JSON file, shortened."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- scalar parsers: each returns the value or raises with the field path ---


def _parse_int(f: _Fields, value: Any, path: str, low: int, high: int, what: str) -> int:
    """An integer in ``low <= n < high`` from a JSON number, decimal or 0x-hex string."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        # Regexes rather than int() alone: int() also takes spaces, "_" and non-ASCII digits.
        if _HEX_INT.fullmatch(value):
            number = int(value[2:], 16)
        elif _DECIMAL_INT.fullmatch(value):
            number = int(value, 10)
    if number is None or not low <= number < high:
        f.fail(path, f"expected {what} (decimal or 0x-hex), got {_show(value)}")
    return number


def _parse_hex_bytes(f: _Fields, value: Any, path: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        f.fail(path, f"expected 0x-prefixed hex bytes, got {_show(value)}")
    digits = value[2:]
    if not _HEX_DIGITS.fullmatch(digits):
        f.fail(path, f"expected 0x-prefixed hex bytes, got {_show(value)}")
    if len(digits) % 2:
        f.fail(path, f"expected an even number of hex digits, got {len(digits)}")
    return bytes.fromhex(digits)


def _parse_address(f: _Fields, value: Any, path: str) -> bytes:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        f.fail(path, f"expected a 0x-prefixed 20-byte address (40 hex digits), got {_show(value)}")
    digits = value[2:]
    address = bytes.fromhex(digits)
    mixed_case = digits != digits.lower() and digits != digits.upper()
    if mixed_case and value != to_checksum_address(address):
        f.fail(
            path,
            f"bad EIP-55 checksum in {value} (expected {to_checksum_address(address)}, or write it all lower-case)",
        )
    return address


def _parse_list(f: _Fields, value: Any, path: str, item: Callable[[Any, str], _T]) -> tuple[_T, ...]:
    if not isinstance(value, list):
        f.fail(path, f"expected a JSON array, got {_show(value)}")
    return tuple(item(element, f"{path}[{index}]") for index, element in enumerate(value))


def _parse_address_list(f: _Fields, value: Any, path: str) -> tuple[bytes, ...]:
    addresses = _parse_list(f, value, path, lambda v, p: _parse_address(f, v, p))
    seen: set[bytes] = set()
    for index, address in enumerate(addresses):
        if address in seen:
            f.fail(f"{path}[{index}]", f"duplicate address {to_checksum_address(address)}")
        seen.add(address)
    return addresses


# --- sections ---

_TOP_KEYS = ("chainId", "gasLimit", "timestamp", "extraData", "alloc", "validators", "consensus", "permissions",
             "maxTransactionGas", "anchor")
_ACCOUNT_KEYS = ("balance", "nonce", "code", "storage")
_VALIDATOR_KEYS = ("address", "blsPublicKey", "blsProofOfPossession", "peerId")
_VALIDATOR_REQUIRED = ("address", "blsPublicKey", "peerId")
_CONSENSUS_KEYS = ("blockPeriodMs", "roundTimeoutMs", "maxRoundTimeoutMs")
_PERMISSION_KEYS = ("registryAddress", "admins", "members", "deployers", "auditors", "membership", "deployment")

_U256 = 2**256
_U64 = 2**64


def _parse_account(f: _Fields, obj: Any, path: str) -> GenesisAccount:
    f.check_keys(obj, path, _ACCOUNT_KEYS, required=("balance",))
    storage_obj = obj.get("storage", {})
    storage_path = _join(path, "storage")
    if not isinstance(storage_obj, dict):
        f.fail(storage_path, f"expected a JSON object of slot -> value, got {_show(storage_obj)}")
    storage: dict[int, int] = {}
    for key_text, value in storage_obj.items():
        slot_path = _join(storage_path, key_text)
        slot = _parse_int(f, key_text, slot_path, 0, _U256, "a storage key below 2**256")
        if slot in storage:
            f.fail(slot_path, f"duplicate storage slot {hex(slot)}")
        storage[slot] = _parse_int(f, value, slot_path, 0, _U256, "a storage value below 2**256")
    return GenesisAccount(
        balance=_parse_int(f, obj["balance"], _join(path, "balance"), 0, _U256, "a non-negative integer below 2**256"),
        nonce=_parse_int(f, obj.get("nonce", 0), _join(path, "nonce"), 0, _U64, "a non-negative integer below 2**64"),
        code=_parse_hex_bytes(f, obj.get("code", "0x"), _join(path, "code")),
        storage=storage,
    )


def _parse_alloc(f: _Fields, obj: Any) -> dict[bytes, GenesisAccount]:
    if not isinstance(obj, dict):
        f.fail("alloc", f"expected a JSON object of address -> account, got {_show(obj)}")
    alloc: dict[bytes, GenesisAccount] = {}
    for address_text, account in obj.items():
        path = _join("alloc", address_text)
        address = _parse_address(f, address_text, path)
        if address in alloc:
            f.fail(path, f"duplicate account {to_checksum_address(address)} (the same address spelt twice)")
        alloc[address] = _parse_account(f, account, path)
    return alloc


def _parse_validator(f: _Fields, obj: Any, path: str) -> GenesisValidator:
    f.check_keys(obj, path, _VALIDATOR_KEYS, required=_VALIDATOR_REQUIRED)
    address = _parse_address(f, obj["address"], _join(path, "address"))
    bls_path = _join(path, "blsPublicKey")
    bls_public_key = _parse_hex_bytes(f, obj["blsPublicKey"], bls_path)
    try:
        check_bls_public_key(bls_public_key)
    except ValueError as exc:
        f.fail(bls_path, f"invalid BLS public key: {exc}")
    # Checked here, where keys enter the chain: a set holding a key without a valid proof could
    # accept a certificate forged from one signature (consensus.validators refuses it too).
    proof_path = _join(path, "blsProofOfPossession")
    who = f"validator {to_checksum_address(address)}"
    if "blsProofOfPossession" not in obj:
        f.fail(proof_path, f"{who} has no BLS proof of possession (`settle keys show` prints it)")
    proof = _parse_hex_bytes(f, obj["blsProofOfPossession"], proof_path)
    try:
        check_bls_proof_of_possession(bls_public_key, proof)
    except ValueError as exc:
        f.fail(proof_path, f"wrong BLS proof of possession for {who}: {exc}")
    peer_path = _join(path, "peerId")
    peer_id = obj["peerId"]
    if not isinstance(peer_id, str):
        f.fail(peer_path, f"expected a base58 libp2p peer id string, got {_show(peer_id)}")
    try:
        check_peer_id(peer_id)
    except ValueError as exc:
        f.fail(peer_path, f"invalid peer id {_show(peer_id)}: {exc}")
    return GenesisValidator(
        address=address,
        bls_public_key=bls_public_key,
        bls_proof_of_possession=proof,
        peer_id=peer_id,
    )


def _parse_validators(f: _Fields, obj: Any) -> tuple[GenesisValidator, ...]:
    validators = _parse_list(f, obj, "validators", lambda v, p: _parse_validator(f, v, p))
    if not validators:
        f.fail("validators", "at least one validator is required")
    # Each identity must be unique: a repeated BLS key would count one signer twice
    # towards a quorum, and a repeated address or peer id makes the set ambiguous.
    for attribute, key, show in (
        ("address", "address", to_checksum_address),
        ("bls_public_key", "blsPublicKey", lambda b: "0x" + b.hex()),
        ("peer_id", "peerId", str),
    ):
        first_index: dict[Any, int] = {}
        for index, validator in enumerate(validators):
            value = getattr(validator, attribute)
            if value in first_index:
                f.fail(
                    f"validators[{index}].{key}",
                    f"duplicate validator {key} {show(value)} (also validators[{first_index[value]}])",
                )
            first_index[value] = index
    return validators


def _parse_consensus(f: _Fields, obj: Any) -> ConsensusParams:
    f.check_keys(obj, "consensus", _CONSENSUS_KEYS)
    defaults = ConsensusParams()
    block_period = _parse_int(
        f,
        obj.get("blockPeriodMs", defaults.block_period_ms),
        "consensus.blockPeriodMs",
        MIN_BLOCK_PERIOD_MS,
        _U64,
        f"an integer of at least {MIN_BLOCK_PERIOD_MS}",
    )
    round_timeout = _parse_int(
        f,
        obj.get("roundTimeoutMs", defaults.round_timeout_ms),
        "consensus.roundTimeoutMs",
        block_period,
        _U64,
        f"an integer of at least blockPeriodMs = {block_period}",
    )
    max_round_timeout = _parse_int(
        f,
        obj.get("maxRoundTimeoutMs", defaults.max_round_timeout_ms),
        "consensus.maxRoundTimeoutMs",
        round_timeout,
        _U64,
        f"an integer of at least roundTimeoutMs = {round_timeout}",
    )
    return ConsensusParams(
        block_period_ms=block_period, round_timeout_ms=round_timeout, max_round_timeout_ms=max_round_timeout
    )


def _parse_permissions(f: _Fields, obj: Any) -> PermissionsConfig:
    f.check_keys(obj, "permissions", _PERMISSION_KEYS)
    defaults = PermissionsConfig()
    registry = defaults.registry_address
    if "registryAddress" in obj:
        registry = _parse_address(f, obj["registryAddress"], "permissions.registryAddress")
    opened: dict[str, bool] = {}
    for key in ("membership", "deployment"):
        value = obj.get(key, "open")
        if value not in ("open", "closed"):
            f.fail(f"permissions.{key}", f'expected "open" or "closed", got {_show(value)}')
        opened[key] = value == "open"
    lists = {
        name: _parse_address_list(f, obj.get(name, []), f"permissions.{name}")
        for name in ("admins", "members", "deployers", "auditors")
    }
    return PermissionsConfig(
        registry_address=registry,
        admins=lists["admins"],
        members=lists["members"],
        deployers=lists["deployers"],
        auditors=lists["auditors"],
        open_membership=opened["membership"],
        open_deployment=opened["deployment"],
    )


def _parse_anchor(f: _Fields, obj: Any) -> AnchorParams:
    """The optional ``anchor`` object (Bitcoin anchoring, docs/anchoring.md)."""
    f.check_keys(obj, "anchor", ("registryAddress",))
    if "registryAddress" not in obj:
        return AnchorParams()
    return AnchorParams(registry_address=_parse_address(f, obj["registryAddress"], "anchor.registryAddress"))


def parse_genesis(obj: Any, source: str = "genesis") -> Genesis:
    """Validate a decoded genesis JSON document and build a :class:`Genesis`.

    ``source`` prefixes every error message (the file name, usually). Raises
    :class:`GenesisFieldError` naming the first bad field.
    """
    f = _Fields(source)
    f.check_keys(obj, "", _TOP_KEYS, required=("chainId", "gasLimit", "validators"))
    extra_data = _parse_hex_bytes(f, obj.get("extraData", "0x"), "extraData")
    if len(extra_data) > MAX_EXTRA_DATA:
        f.fail("extraData", f"at most {MAX_EXTRA_DATA} bytes allowed, got {len(extra_data)}")
    gas_limit = _parse_int(
        f, obj["gasLimit"], "gasLimit", MIN_GAS_LIMIT, 2**63, f"an integer of at least {MIN_GAS_LIMIT} and below 2**63"
    )
    max_transaction_gas = None
    if "maxTransactionGas" in obj:
        max_transaction_gas = _parse_int(f, obj["maxTransactionGas"], "maxTransactionGas", 21_000, gas_limit + 1,
                                         f"an integer from 21000 up to the block gas limit {gas_limit}")
    return Genesis(
        chain_id=_parse_int(f, obj["chainId"], "chainId", 1, MAX_CHAIN_ID + 1, f"an integer 1..{MAX_CHAIN_ID}"),
        gas_limit=gas_limit,
        max_transaction_gas=max_transaction_gas,
        timestamp=_parse_int(f, obj.get("timestamp", 0), "timestamp", 0, _U64, "a non-negative integer below 2**64"),
        extra_data=extra_data,
        alloc=_parse_alloc(f, obj.get("alloc", {})),
        validators=_parse_validators(f, obj["validators"]),
        consensus=_parse_consensus(f, obj.get("consensus", {})),
        permissions=_parse_permissions(f, obj.get("permissions", {})),
        anchor=_parse_anchor(f, obj.get("anchor", {})),
    )


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys silently; in genesis that would drop
    # an allocation or a validator without a word.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed in genesis JSON")


def load_genesis(path: Path | str) -> Genesis:
    """Read and validate a genesis file. Every failure is a :class:`GenesisError`."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GenesisFileError(path, "genesis file not found") from None
    except UnicodeDecodeError as exc:
        raise GenesisFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise GenesisFileError(path, f"cannot read genesis file: {exc.strerror}") from None
    try:
        obj = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GenesisJSONError(source, exc.lineno, exc.colno, exc.msg) from None
    except _DuplicateKey as exc:
        raise GenesisFieldError(exc.key, "key appears twice in the same JSON object", source) from None
    except ValueError as exc:  # from _reject_constant
        raise GenesisFileError(path, str(exc)) from None
    return parse_genesis(obj, source)


# --- serialisation ---


def _address_json(address: bytes) -> str:
    return to_checksum_address(address)


def validator_to_json(validator: GenesisValidator) -> dict[str, Any]:
    """One entry of genesis ``validators``, as ``settle keys generate`` also writes it."""
    return {
        "address": _address_json(validator.address),
        "blsPublicKey": "0x" + validator.bls_public_key.hex(),
        "blsProofOfPossession": "0x" + validator.bls_proof_of_possession.hex(),
        "peerId": validator.peer_id,
    }


def genesis_to_json(genesis: Genesis) -> dict[str, Any]:
    """The JSON document of ``genesis``; ``parse_genesis`` of it gives ``genesis`` back.

    Output is canonical: checksummed addresses, accounts and storage sorted, big
    numbers as hex strings, and account fields left out when at their defaults.
    """
    alloc: dict[str, Any] = {}
    for address in sorted(genesis.alloc):
        account = genesis.alloc[address]
        entry: dict[str, Any] = {"balance": hex(account.balance)}
        if account.nonce:
            entry["nonce"] = account.nonce
        if account.code:
            entry["code"] = "0x" + account.code.hex()
        if account.storage:
            entry["storage"] = {hex(slot): hex(account.storage[slot]) for slot in sorted(account.storage)}
        alloc[_address_json(address)] = entry
    permissions = genesis.permissions
    # Written only when set, so that the genesis id of a network that leaves it out stays what it was.
    optional = {} if genesis.max_transaction_gas is None else {"maxTransactionGas": hex(genesis.max_transaction_gas)}
    document: dict[str, Any] = {
        **optional,
        "chainId": genesis.chain_id,
        "gasLimit": hex(genesis.gas_limit),
        "timestamp": genesis.timestamp,
        "extraData": "0x" + genesis.extra_data.hex(),
        "alloc": alloc,
        "validators": [
validator_to_json(v) for v in genesis.validators
        ],
        "consensus": {
            "blockPeriodMs": genesis.consensus.block_period_ms,
            "roundTimeoutMs": genesis.consensus.round_timeout_ms,
            "maxRoundTimeoutMs": genesis.consensus.max_round_timeout_ms,
        },
        "permissions": {
            "registryAddress": _address_json(permissions.registry_address),
            "admins": [_address_json(a) for a in permissions.admins],
            "members": [_address_json(a) for a in permissions.members],
            "deployers": [_address_json(a) for a in permissions.deployers],
            "auditors": [_address_json(a) for a in permissions.auditors],
        },
    }
    # Written only when closed, so that existing (open) genesis files keep their form.
    if not permissions.open_membership:
        document["permissions"]["membership"] = "closed"
    if not permissions.open_deployment:
        document["permissions"]["deployment"] = "closed"
    if genesis.anchor != AnchorParams():  # written only when set, so existing genesis files stay as they were
        document["anchor"] = {"registryAddress": _address_json(genesis.anchor.registry_address)}
    return document


def write_genesis(genesis: Genesis, path: Path | str) -> None:
    """Validate ``genesis`` and write it as JSON, atomically.

    Validation runs first so that a ``Genesis`` built in code can never produce a
    file that ``load_genesis`` would reject. The file is written beside its
    target and renamed, so a crash never leaves a half-written genesis.
    """
    path = Path(path)
    try:
        document = genesis_to_json(genesis)
    except (ValueError, TypeError) as exc:  # e.g. an address that is not 20 bytes
        raise GenesisError(f"{path}: genesis is not serialisable: {exc}") from None
    parse_genesis(document, str(path))
    text = json.dumps(document, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=".genesis-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
