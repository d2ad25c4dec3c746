"""Tests for contracts.compiler and for running its output on our py-evm (Prague)."""

import json
from pathlib import Path
from typing import Any

import pytest
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.exceptions import Revert
from eth.vm.forks import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_abi import decode, encode
from eth_keys import keys
from eth_utils import function_signature_to_4byte_selector, to_wei

from contracts.compiler import (
    BUILD_DIR,
    ArtifactNotFound,
    CompileError,
    available_artifacts,
    compile_all,
    load_artifact,
)


def test_syntax_error_raises_compile_error_with_file_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "Broken.sol").write_text(
        "// SPDX-License-Identifier: Apache-2.0\n"
        "pragma solidity ^0.8.24;\n"
        "contract Broken { function f() external { uint x = } }\n"
    )
    with pytest.raises(CompileError) as excinfo:
        compile_all(src_dir=src, build_dir=tmp_path / "build")
    message = str(excinfo.value)
    assert "ParserError" in message
    assert "Broken.sol" in message
    assert not (tmp_path / "build").exists()


def test_missing_artifact_names_contract_and_lists_available() -> None:
    with pytest.raises(ArtifactNotFound) as excinfo:
        load_artifact("Nope")
    assert "Nope" in str(excinfo.value)
    assert "SettleTestToken" in str(excinfo.value)


def test_artifacts_target_prague() -> None:
    names = available_artifacts()
    assert {"SettleTestToken", "StorageHeavy"} <= set(names)
    for name in names:
        data = json.loads((BUILD_DIR / f"{name}.json").read_text())
        assert data["compiler"]["evmVersion"] == "prague"
        assert load_artifact(name).bytecode


# --- deploy and run SettleTestToken on an in-memory py-evm Prague chain ---

SENDER_KEY = keys.PrivateKey(b"\x01" * 32)
SENDER = SENDER_KEY.public_key.to_canonical_address()
RECIPIENT = b"\x22" * 20
GAS_PRICE = 10**9  # equals the genesis base fee, so legacy txs are always includable


def _chain() -> MiningChain:
    chain_class = MiningChain.configure(
        __name__="PragueTestChain", vm_configuration=((0, PragueVM),), chain_id=1337
    )
    genesis_params: dict[str, Any] = {
        "difficulty": 0,
        "gas_limit": 30_000_000,
        "base_fee_per_gas": GAS_PRICE,
        "timestamp": 1_700_000_000,
    }
    state = {SENDER: {"balance": to_wei(100, "ether"), "nonce": 0, "code": b"", "storage": {}}}
    return chain_class.from_genesis(AtomicDB(), genesis_params, state)


def _unsigned(chain: MiningChain, to: bytes, data: bytes) -> Any:
    vm = chain.get_vm()
    nonce = vm.state.get_nonce(SENDER)
    return vm.create_unsigned_transaction(
        nonce=nonce, gas_price=GAS_PRICE, gas=3_000_000, to=to, value=0, data=data
    )


def _tx(chain: MiningChain, to: bytes, data: bytes) -> Any:
    return _unsigned(chain, to, data).as_signed_transaction(SENDER_KEY, chain_id=1337)


def _calldata(signature: str, types: list[str], args: list[Any]) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, args)


def test_settle_test_token_deploys_and_transfers_on_prague() -> None:
    artifact = load_artifact("SettleTestToken")
    chain = _chain()
    supply = 1_000_000 * 10**18

    ctor_args = encode(["string", "string", "uint256"], ["Settle Test", "STT", supply])
    _, receipt, computation = chain.apply_transaction(
        _tx(chain, b"", artifact.bytecode + ctor_args)
    )
    computation.raise_if_error()
    chain.mine_block()
    token = computation.msg.storage_address
    assert chain.get_vm().state.get_code(token) == artifact.deployed_bytecode

    def call(data: bytes) -> bytes:
        # eth_call-style: spoof the sender, since costless execution re-prices the tx
        # (which would invalidate a real signature).
        spoofed = SpoofTransaction(_unsigned(chain, token, data), from_=SENDER)
        return chain.get_transaction_result(spoofed, chain.get_canonical_head())

    def balance_of(who: bytes) -> int:
        return decode(["uint256"], call(_calldata("balanceOf(address)", ["address"], [who])))[0]

    assert balance_of(SENDER) == supply

    data = _calldata("transfer(address,uint256)", ["address", "uint256"], [RECIPIENT, 250])
    _, receipt, computation = chain.apply_transaction(_tx(chain, token, data))
    computation.raise_if_error()
    assert decode(["bool"], computation.output) == (True,)
    assert len(receipt.logs) == 1  # Transfer event
    chain.mine_block()

    assert balance_of(RECIPIENT) == 250
    assert balance_of(SENDER) == supply - 250

    # Reverts carry the ABI-encoded reason string / custom error that node tests rely on.
    with pytest.raises(Revert) as excinfo:
        call(_calldata("failWithReason()", [], []))
    revert_data = excinfo.value.args[0]
    assert revert_data[:4] == function_signature_to_4byte_selector("Error(string)")
    assert decode(["string"], revert_data[4:]) == ("SettleTestToken: deliberate failure",)

    with pytest.raises(Revert) as excinfo:
        call(_calldata("failWithCustomError(uint256)", ["uint256"], [42]))
    revert_data = excinfo.value.args[0]
    assert revert_data == _calldata("DeliberateFailure(uint256)", ["uint256"], [42])
