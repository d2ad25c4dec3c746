"""Shared builders for unit tests: a dev genesis and signed transactions."""
from __future__ import annotations

from eth_account import Account

from node.dev import dev_genesis
from node.dev_accounts import DevSigner

SIGNER = DevSigner.from_mnemonic()
GENESIS = dev_genesis(SIGNER)


def transfer(sender_index: int, nonce: int, *, to_index: int = 9, value: int = 1, chain_id: int = 1337,
             gas: int = 21000, max_fee: int = 0, tip: int = 0, data: bytes = b"") -> bytes:
    fields = {"chainId": chain_id, "nonce": nonce, "to": SIGNER.accounts[to_index].address, "value": value,
              "gas": gas, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip, "type": 2, "data": data}
    return bytes(Account.sign_transaction(fields, SIGNER.accounts[sender_index].key).raw_transaction)


class RecordingNetwork:
    """Stands in for the p2p network: records what the engine publishes."""

    def __init__(self) -> None:
        self.published: list[bytes] = []

    async def publish_consensus(self, raw: bytes) -> None:
        self.published.append(raw)

    def peers(self) -> list[str]:
        return []
