"""Pre-funded, unlocked accounts for `settle node dev`.

They derive from a fixed, published mnemonic (Hardhat's and Foundry's default), so
tools already configured for those dev chains see the same accounts. These keys
are public knowledge: never use them outside a dev chain.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE = 10_000 * 10**18


@dataclass(frozen=True, slots=True)
class DevSigner:
    """Signs for the unlocked dev accounts (``eth_sendTransaction``, ``eth_sign*``)."""

    accounts: tuple[LocalAccount, ...]

    @classmethod
    def from_mnemonic(cls, mnemonic: str = DEV_MNEMONIC, count: int = DEV_ACCOUNT_COUNT) -> DevSigner:
        Account.enable_unaudited_hdwallet_features()
        return cls(
            tuple(
                Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
                for i in range(count)
            )
        )

    @property
    def addresses(self) -> list[bytes]:
        return [bytes.fromhex(a.address[2:]) for a in self.accounts]

    def account(self, address: bytes) -> LocalAccount | None:
        for candidate in self.accounts:
            if bytes.fromhex(candidate.address[2:]) == address:
                return candidate
        return None

    def sign_transaction(self, address: bytes, fields: dict[str, Any]) -> bytes:
        account = self.account(address)
        assert account is not None
        return bytes(account.sign_transaction(fields).raw_transaction)

    def sign_message(self, address: bytes, message: bytes) -> bytes:
        account = self.account(address)
        assert account is not None
        return bytes(account.sign_message(encode_defunct(primitive=message)).signature)

    def sign_typed_data(self, address: bytes, typed_data: dict[str, Any]) -> bytes:
        account = self.account(address)
        assert account is not None
        return bytes(account.sign_message(encode_typed_data(full_message=typed_data)).signature)
