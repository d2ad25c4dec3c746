"""The anchor-registry system contract on a real dev chain: deployed by genesis, validators only, one record
per checkpoint (validators racing to record leave exactly one)."""
from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractCustomError

from contracts.compiler import load_artifact
from genesis.model import DEFAULT_ANCHOR_REGISTRY_ADDRESS
from node.anchor.registry import AnchorRecord, encode_record, read_record, recorded_heights
from node.dev import dev_validator_keys
from tests.contracts.chain import decode_error

pytestmark = pytest.mark.e2e

REGISTRY = "0x" + DEFAULT_ANCHOR_REGISTRY_ADDRESS.hex()


def _record(height: int, block_hash: bytes) -> AnchorRecord:
    return AnchorRecord(height=height, block_hash=block_hash, btc_txid=b"\x11" * 32, btc_block_hash=b"\x22" * 32,
                        btc_block_height=500, tx_index=3, branch=(b"\x33" * 32, b"\x44" * 32), raw_tx=b"\x55" * 230)


def _send(chain, key: bytes, data: bytes) -> dict:
    w3 = chain.w3
    validator = Account.from_key(key)
    fields = {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(validator.address, "pending"),
              "to": w3.to_checksum_address(REGISTRY), "value": 0, "gas": 3_000_000, "maxFeePerGas": 0,
              "maxPriorityFeePerGas": 0, "type": 2, "data": data}
    raw = Account.sign_transaction(fields, key).raw_transaction
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw), timeout=60)


def _revert_name(chain, sender: str, data: bytes) -> str:
    with pytest.raises(ContractCustomError) as failure:
        chain.w3.eth.call({"from": sender, "to": chain.w3.to_checksum_address(REGISTRY), "data": data})
    return decode_error(failure.value.data)[0]


def test_registry_is_deployed_by_genesis_and_keeps_one_record_per_checkpoint(chain):
    w3 = chain.w3
    assert bytes(w3.eth.get_code(w3.to_checksum_address(REGISTRY))) == load_artifact("AnchorRegistry").deployed_bytecode
    registry = w3.eth.contract(address=w3.to_checksum_address(REGISTRY), abi=load_artifact("AnchorRegistry").abi)
    key = dev_validator_keys().account_key
    validator = Account.from_key(key).address
    assert registry.functions.isWriter(validator).call()
    assert not registry.functions.isWriter(chain.accounts[0]).call()

    chain.mine()
    chain.mine()
    height = w3.eth.block_number - 1
    block_hash = bytes(w3.eth.get_block(height)["hash"])
    record = _record(height, block_hash)
    assert _revert_name(chain, chain.accounts[0], encode_record(record)) == "NotValidator"
    assert _revert_name(chain, validator, encode_record(_record(height, b"\x99" * 32))) == "BadRecord"

    receipt = _send(chain, key, encode_record(record))
    assert receipt["status"] == 1

    def call(data: bytes) -> bytes:
        return bytes(w3.eth.call({"to": w3.to_checksum_address(REGISTRY), "data": data}))

    stored = read_record(call, height)
    assert stored is not None and stored.recorder == bytes.fromhex(validator[2:].lower())
    assert stored == AnchorRecord(**{**{f: getattr(record, f) for f in record.__dataclass_fields__},
                                     "recorder": stored.recorder})
    assert height in recorded_heights(call)
    assert read_record(call, height + 10_000) is None

    # A second record for the same checkpoint, different Bitcoin data: refused, the first is kept.
    second = AnchorRecord(height, block_hash, b"\x66" * 32, b"\x77" * 32, 501, 0, (), b"\x88" * 230)
    assert _revert_name(chain, validator, encode_record(second)) == "AlreadyAnchored"
    assert _send(chain, key, encode_record(second))["status"] == 0
    assert read_record(call, height) == stored
    assert recorded_heights(call).count(height) == 1
