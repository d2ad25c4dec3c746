"""Price reports for the ConsortiumOracle: what each validator signs, and how a quorum is submitted.

Each validator signs the EIP-712 message ``PriceReport(bytes32 asset, uint256 price, uint64 round,
uint64 observedAt)`` in the domain ``("Settle Consortium Oracle", "1", chainId, oracle address)``
with its secp256k1 account key. Anyone holding ⌈2n/3⌉ such signatures submits them in one
``submitReport`` transaction, ordered by signer address (the contract's duplicate check).
Assets are identified on-chain by ``keccak256(symbol)`` (:func:`asset_id`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

__all__ = ["PriceReport", "SignedReport", "asset_id", "order_signatures", "quorum", "sign_report", "typed_data"]

DOMAIN_NAME = "Settle Consortium Oracle"
DOMAIN_VERSION = "1"


@dataclass(frozen=True)
class PriceReport:
    """One observation, as every validator signs it."""

    asset: bytes
    """32-byte asset id (:func:`asset_id`)."""
    price: int
    """Cash units per unit of the asset."""
    round: int
    """The oracle's next round for this asset (latestRound + 1)."""
    observed_at: int
    """Unix time of the observation; the oracle accepts it only if recent and not in the future."""


@dataclass(frozen=True)
class SignedReport:
    """One validator's signature over a report."""

    signer: str
    signature: bytes


def asset_id(symbol: str) -> bytes:
    """The on-chain id of an asset: keccak256 of its symbol."""
    return keccak(text=symbol)


def quorum(validator_count: int) -> int:
    """⌈2n/3⌉, as the contract computes it."""
    return (2 * validator_count + 2) // 3


def typed_data(report: PriceReport, chain_id: int, oracle: str) -> dict[str, Any]:
    """The EIP-712 message a validator signs for ``report`` on the oracle at ``oracle``."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "PriceReport": [
                {"name": "asset", "type": "bytes32"},
                {"name": "price", "type": "uint256"},
                {"name": "round", "type": "uint64"},
                {"name": "observedAt", "type": "uint64"},
            ],
        },
        "primaryType": "PriceReport",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(oracle),
        },
        "message": {
            "asset": report.asset,
            "price": report.price,
            "round": report.round,
            "observedAt": report.observed_at,
        },
    }


def sign_report(report: PriceReport, private_key: bytes | str, chain_id: int, oracle: str) -> SignedReport:
    """One validator's signature over ``report``."""
    signed = Account.sign_message(encode_typed_data(full_message=typed_data(report, chain_id, oracle)), private_key)
    return SignedReport(Account.from_key(private_key).address, bytes(signed.signature))


def order_signatures(signed: Iterable[SignedReport]) -> list[bytes]:
    """Signatures by ascending signer address, one per signer, as ``submitReport`` requires."""
    by_signer = {int(s.signer, 16): s.signature for s in signed}
    return [by_signer[signer] for signer in sorted(by_signer)]
