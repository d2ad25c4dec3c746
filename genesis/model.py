"""The genesis state of a Settle chain, as plain frozen data.

A genesis fixes what every node must agree on before block 1: the chain id,
the block gas limit, the pre-funded accounts and pre-deployed code, the first
validator set, the consensus timing, and the first permission lists. Parsing
and validation live in :mod:`genesis.loader`; these types only hold values.

Mappings are copied into read-only views on construction, so a ``Genesis``
handed to the VM or consensus cannot be changed behind their back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

#: Address of the permission registry system contract (docs/permissioning.md); "5e77" reads as "sett(le)".
DEFAULT_REGISTRY_ADDRESS = bytes.fromhex("0000000000000000000000000000000000005e77")

#: Address of the anchor-registry system contract (Bitcoin anchoring, docs/anchoring.md); "a7c4" reads as "anch(or)".
DEFAULT_ANCHOR_REGISTRY_ADDRESS = bytes.fromhex("000000000000000000000000000000000000a7c4")

_K = TypeVar("_K")
_V = TypeVar("_V")


def _frozen_mapping(mapping: Mapping[_K, _V]) -> Mapping[_K, _V]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class GenesisAccount:
    """One pre-allocated account."""

    balance: int
    """Balance in wei. Required."""

    nonce: int = 0
    """Account nonce. Default 0."""

    code: bytes = b""
    """Runtime bytecode of a pre-deployed contract. Default empty (not a contract)."""

    storage: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    """Storage slot -> value of a pre-deployed contract. Default empty."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage", _frozen_mapping(self.storage))


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    """A member of the first validator set: the three identities a validator uses, and the BLS key's proof."""

    address: bytes
    """20-byte secp256k1 account address; signs consensus messages."""

    bls_public_key: bytes
    """48-byte compressed BLS12-381 G1 public key; verifies commit seals."""

    bls_proof_of_possession: bytes
    """96-byte proof that the validator holds the secret of ``bls_public_key`` (IETF ``PopProve``);
    without it a rogue key could forge commit certificates."""

    peer_id: str
    """libp2p peer id (base58); only these peers may connect."""


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """Timing of the BFT protocol."""

    block_period_ms: int = 1000
    """Target time between blocks, in milliseconds. Default 1000; at least 50."""

    round_timeout_ms: int = 2000
    """Timeout of round 0 before a round change, in milliseconds. Default 2000;
    at least ``block_period_ms``."""

    max_round_timeout_ms: int = 60000
    """Cap on the exponentially growing round timeout, in milliseconds. Default
    60000; at least ``round_timeout_ms``."""


@dataclass(frozen=True, slots=True)
class PermissionsConfig:
    """The first contents of the permission registry. Empty tuples mean "no list yet"."""

    registry_address: bytes = DEFAULT_REGISTRY_ADDRESS
    """Address of the permission registry contract. Default
    ``0x0000000000000000000000000000000000005e77``."""

    admins: tuple[bytes, ...] = ()
    """Addresses that may administer the registry. Default empty."""

    members: tuple[bytes, ...] = ()
    """Addresses that may send transactions. Default empty."""

    deployers: tuple[bytes, ...] = ()
    """Addresses that may create contracts. Default empty."""

    auditors: tuple[bytes, ...] = ()
    """Addresses of read-only audit peers. Default empty."""

    open_membership: bool = True
    """Every key is a member (may send transactions): the "public permissioned" model (JSON
    ``"membership": "open"``). Default True; ``"closed"``: only ``members``, ``deployers``, ``admins``
    and validators may send."""

    open_deployment: bool = True
    """Every member may create contracts (JSON ``"deployment": "open"``). Default True; ``"closed"``:
    only ``deployers``."""

    def __post_init__(self) -> None:
        for name in ("admins", "members", "deployers", "auditors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True, slots=True)
class AnchorParams:
    """Where Bitcoin anchor records live (docs/anchoring.md)."""

    registry_address: bytes = DEFAULT_ANCHOR_REGISTRY_ADDRESS
    """Address of the anchor-registry system contract, which genesis deploys there (unless ``alloc`` already
    holds that address). Default ``0x000000000000000000000000000000000000a7c4``."""


@dataclass(frozen=True, slots=True)
class Genesis:
    """Everything a node needs to build block 0 and start consensus."""

    chain_id: int
    """EIP-155 chain id; 1 up to the EIP-2294 bound."""

    gas_limit: int
    """Block gas limit; at least 5000 and below 2**63."""

    timestamp: int
    """Timestamp of block 0, in seconds since the Unix epoch."""

    extra_data: bytes
    """``extraData`` of block 0; at most 32 bytes (header validation rule)."""

    alloc: Mapping[bytes, GenesisAccount]
    """Pre-allocated accounts by 20-byte address."""

    validators: tuple[GenesisValidator, ...]
    """The first validator set, in proposer order; at least one."""

    consensus: ConsensusParams = ConsensusParams()
    """Consensus timing. Default :class:`ConsensusParams` defaults."""

    permissions: PermissionsConfig = PermissionsConfig()
    """First permission lists. Default: registry at its reserved address, empty lists."""

    max_transaction_gas: int | None = None
    """Gas limit one transaction may have (``maxTransactionGas``), a consensus rule: a
    block holding a transaction above it is invalid. Default None: half the block gas
    limit (:attr:`transaction_gas_cap`)."""

    anchor: AnchorParams = AnchorParams()
    """Bitcoin anchoring: the anchor registry's address. Default :class:`AnchorParams` defaults."""

    @property
    def transaction_gas_cap(self) -> int:
        """The per-transaction gas cap in force: ``max_transaction_gas``, or half the block gas limit."""
        return self.max_transaction_gas if self.max_transaction_gas is not None else self.gas_limit // 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "alloc", _frozen_mapping(self.alloc))
        object.__setattr__(self, "validators", tuple(self.validators))
