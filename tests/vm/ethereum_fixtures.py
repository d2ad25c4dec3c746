"""Running the official ``ethereum/tests`` fixtures through Settle's execution path.

The fixtures are read in place from ``shared/fixtures/ethereum-tests`` beside
the checkout (``SETTLE_ETHEREUM_TESTS`` overrides the location). Each
``run_*`` function raises ``AssertionError`` naming what differed.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import rlp
from eth.chains.base import ChainContext
from eth.consensus.context import ConsensusContext
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.tools._utils.hashing import hash_log_entries
from eth.tools._utils.normalization import normalize_account_state
from eth.tools.fixtures.helpers import setup_state
from eth.vm.forks.cancun.headers import CancunBlockHeader
from eth.vm.forks.shanghai.constants import INITCODE_WORD_COST
from eth_keys import keys
from eth_utils import ValidationError, decode_hex, to_canonical_address

from vm.fork import SettleCancunVM
from vm.ordered_trie import trie_root_and_nodes
from vm.senders import prefill_sender

REPO = Path(__file__).resolve().parents[2]


def fixtures_root() -> Path:
    configured = os.environ.get("SETTLE_ETHEREUM_TESTS")
    if configured:
        return Path(configured)
    for base in (REPO.parent, REPO.parent.parent, Path("/work")):
        candidate = base / "shared" / "fixtures" / "ethereum-tests"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "fixtures" / "ethereum-tests"


@lru_cache(maxsize=64)
def load(path: Path) -> dict[str, Any]:
    with open(path) as handle:
        return json.load(handle)


def _int(value: str) -> int:
    return int(value, 16) if value.startswith("0x") else int(value)


# -- GeneralStateTests --------------------------------------------------------
STATE_FORK = "Cancun"


def state_cases(root: Path) -> Iterator[tuple[str, str, int]]:
    """(file relative to GeneralStateTests, test name, post-state index) of every Cancun case."""
    base = root / "GeneralStateTests"
    for path in sorted(base.rglob("*.json")):
        try:
            document = load(path)
        except (OSError, ValueError):
            continue
        for name, test in document.items():
            for index, _ in enumerate(test.get("post", {}).get(STATE_FORK, [])):
                yield str(path.relative_to(base)), name, index


def _state_transaction(vm: SettleCancunVM, spec: dict[str, Any], indexes: dict[str, int]) -> Any:
    data = decode_hex(spec["data"][indexes["data"]])
    gas = _int(spec["gasLimit"][indexes["gas"]])
    value = _int(spec["value"][indexes["value"]])
    to = to_canonical_address(spec["to"]) if spec.get("to") else b""
    nonce = _int(spec["nonce"])
    key = keys.PrivateKey(decode_hex(spec["secretKey"]))
    access_lists = spec.get("accessLists")
    access_list = [
        (to_canonical_address(entry["address"]), [_int(slot) for slot in entry["storageKeys"]])
        for entry in (access_lists[indexes["data"]] or [])
    ] if access_lists else []
    builder = vm.get_transaction_builder()
    if "blobVersionedHashes" in spec:
        unsigned = builder.new_unsigned_blob_transaction(
            1, nonce, _int(spec["maxPriorityFeePerGas"]), _int(spec["maxFeePerGas"]), gas, to, value, data,
            access_list, _int(spec["maxFeePerBlobGas"]), [decode_hex(h) for h in spec["blobVersionedHashes"]])
    elif "maxFeePerGas" in spec:
        unsigned = builder.new_unsigned_dynamic_fee_transaction(
            1, nonce, _int(spec["maxPriorityFeePerGas"]), _int(spec["maxFeePerGas"]), gas, to, value, data,
            access_list)
    elif access_lists is not None:
        unsigned = builder.new_unsigned_access_list_transaction(
            1, nonce, _int(spec["gasPrice"]), gas, to, value, data, access_list)
    else:
        unsigned = builder.create_unsigned_transaction(
            nonce=nonce, gas_price=_int(spec["gasPrice"]), gas=gas, to=to, value=value, data=data)
        return unsigned.as_signed_transaction(key)
    return unsigned.as_signed_transaction(key)


@dataclass(frozen=True)
class StateOutcome:
    state_root: bytes
    logs_hash: bytes
    rejected: str | None
    """Why the transaction was refused before execution, if it was."""


def state_case(root: Path, relative: str, name: str, index: int) -> dict[str, Any]:
    return load(root / "GeneralStateTests" / relative)[name]


def run_state_case(root: Path, relative: str, name: str, index: int,
                   vm_class: type = SettleCancunVM) -> StateOutcome:
    """Apply the case's transaction to its pre-state on ``vm_class``; the resulting root and logs hash."""
    test = state_case(root, relative, name, index)
    post = test["post"][STATE_FORK][index]
    env = test["env"]
    header = CancunBlockHeader(
        difficulty=0,
        block_number=_int(env["currentNumber"]),
        gas_limit=_int(env["currentGasLimit"]),
        timestamp=_int(env["currentTimestamp"]),
        coinbase=to_canonical_address(env["currentCoinbase"]),
        mix_hash=decode_hex(env.get("currentRandom", "0x" + "00" * 32)),
        base_fee_per_gas=_int(env.get("currentBaseFee", "0x0a")),
        excess_blob_gas=_int(env.get("currentExcessBlobGas", "0x0")),
        blob_gas_used=0,
        parent_beacon_block_root=b"\x00" * 32,
    )
    db = AtomicDB()
    vm = vm_class(header=header, chaindb=ChainDB(db), chain_context=ChainContext(1),
                  consensus_context=ConsensusContext(db))
    setup_state(normalize_account_state(test["pre"]), vm.state)
    try:
        transaction = _state_transaction(vm, test["transaction"], post["indexes"])
        prefill_sender(transaction)  # as the node's builder and import do, so the checks take Settle's path
        vm.validate_transaction_against_header(vm.get_header(), transaction)
        _, computation = vm.apply_transaction(vm.get_header(), transaction)
    except Exception as exc:  # py-evm refuses some transactions with VMError, not ValidationError
        return StateOutcome(vm.state.make_state_root(), hash_log_entries(()), f"{type(exc).__name__}: {exc}")
    vm.state.persist()
    return StateOutcome(vm.state.make_state_root(), hash_log_entries(computation.get_log_entries()), None)


def state_expectation(root: Path, relative: str, name: str, index: int) -> tuple[bytes, bytes, str | None]:
    """The fixture's post-state root, logs hash and expected exception (if any)."""
    post = state_case(root, relative, name, index)["post"][STATE_FORK][index]
    return decode_hex(post["hash"]), decode_hex(post["logs"]), post.get("expectException")


# -- TrieTests -------------------------------------------------------------------
TRIE_FILES = ("trietest.json", "trieanyorder.json", "trietest_secureTrie.json",
              "trieanyorder_secureTrie.json", "hex_encoded_securetrie_test.json")


def trie_cases(root: Path) -> Iterator[tuple[str, str]]:
    for filename in TRIE_FILES:
        for name in load(root / "TrieTests" / filename):
            yield filename, name


def _trie_bytes(value: str | None) -> bytes:
    if value is None:
        return b""
    return decode_hex(value) if value.startswith("0x") else value.encode()


def run_trie_case(root: Path, filename: str, name: str) -> None:
    """Apply the inserts and deletions, then compare the one-pass root with the expected one."""
    from eth_hash.auto import keccak

    test = load(root / "TrieTests" / filename)[name]
    pairs = test["in"].items() if isinstance(test["in"], dict) else test["in"]
    secure = "secureTrie" in filename or "securetrie" in filename
    state: dict[bytes, bytes] = {}
    for raw_key, raw_value in pairs:
        key = _trie_bytes(raw_key)
        key = keccak(key) if secure else key
        value = _trie_bytes(raw_value)
        if value:
            state[key] = value
        else:
            state.pop(key, None)
    root_hash, _ = trie_root_and_nodes(state)
    assert root_hash == decode_hex(test["root"]), f"{filename} {name}: root {root_hash.hex()} != {test['root']}"


# -- RLPTests ---------------------------------------------------------------------
def rlp_cases(root: Path) -> Iterator[tuple[str, str]]:
    base = root / "RLPTests"
    for path in sorted(base.rglob("*.json")):
        for name in load(path):
            yield str(path.relative_to(base)), name


def _rlp_input(value: Any) -> Any:
    if isinstance(value, list):
        return [_rlp_input(item) for item in value]
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("#"):
        return int(value[1:])
    return value.encode() if isinstance(value, str) else value


def run_rlp_case(root: Path, relative: str, name: str) -> None:
    """Valid cases encode to ``out`` and decode back; ``INVALID`` inputs must not decode."""
    test = load(root / "RLPTests" / relative)[name]
    encoded = decode_hex(test["out"])
    if test["in"] == "INVALID":
        try:
            rlp.decode(encoded)
        except rlp.exceptions.DecodingError:
            return
        raise AssertionError(f"{relative} {name}: invalid RLP {test['out']} decoded")
    if test["in"] == "VALID":
        rlp.decode(encoded)
        return
    value = _rlp_input(test["in"])
    assert rlp.encode(value) == encoded, f"{relative} {name}: encoding differs"
    assert rlp.encode(rlp.decode(encoded)) == encoded, f"{relative} {name}: decode/encode round trip differs"


# -- TransactionTests -------------------------------------------------------------
TRANSACTION_FORK = "Cancun"


def transaction_cases(root: Path) -> Iterator[tuple[str, str]]:
    base = root / "TransactionTests"
    for path in sorted(base.rglob("*.json")):
        for name, test in load(path).items():
            if TRANSACTION_FORK in test.get("result", {}):
                yield str(path.relative_to(base)), name


def run_transaction_case(root: Path, relative: str, name: str) -> None:
    """Decode and validate ``txbytes`` as Settle's Cancun-rules VM does; compare sender and hash, or the rejection."""
    test = load(root / "TransactionTests" / relative)[name]
    expected = test["result"][TRANSACTION_FORK]
    raw = decode_hex(test["txbytes"])
    try:
        transaction = SettleCancunVM.get_transaction_builder().decode(raw)
        transaction.validate()
        intrinsic_gas = transaction.intrinsic_gas
        if intrinsic_gas > transaction.gas:
            raise ValidationError(f"intrinsic gas {intrinsic_gas} above gas limit {transaction.gas}")
        chain_id = getattr(transaction, "chain_id", None)
        if chain_id not in (None, 1):
            raise ValidationError(f"chain id {chain_id} is not the fixtures' chain id 1")
        sender = transaction.sender
    except Exception as exc:  # any rejection counts; the fixture says whether one was due
        if "exception" in expected:
            return
        raise AssertionError(f"{relative} {name}: valid transaction rejected: {exc!r}") from exc
    if "exception" in expected:
        raise AssertionError(f"{relative} {name}: accepted, expected {expected['exception']}")
    assert transaction.hash == decode_hex(expected["hash"]), f"{relative} {name}: hash differs"
    assert sender == decode_hex(expected["sender"]), f"{relative} {name}: sender differs"
    # The node recovers senders on vm.senders' fast path, not through py-evm's.
    fast = SettleCancunVM.get_transaction_builder().decode(raw)
    prefill_sender(fast)
    assert vars(fast).get("sender") == sender, f"{relative} {name}: fast-path sender differs or is missing"
    assert fast.hash == transaction.hash, f"{relative} {name}: hash differs after the fast path's type byte"
    if not transaction.to:
        # py-evm charges EIP-3860's initcode word cost when the computation
        # starts, not in intrinsic_gas; the fixtures count it in.
        intrinsic_gas += INITCODE_WORD_COST * ((len(transaction.data) + 31) // 32)
    assert intrinsic_gas == _int(expected["intrinsicGas"]), f"{relative} {name}: intrinsic gas differs"
