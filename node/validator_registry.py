"""The validator set of each height, read from the permission registry in the chain's state.

A change decided in block h (a proposal reaching its majority, contracts/src/permissions/
PermissionRegistry.sol) is in the state after block h, so it applies from block h + 1: the set of
height h + 1 is the registry's list in the state after block h. Consensus (proposer rotation,
quorum), sync (certificate checks), ``bft_getValidatorsByBlockNumber`` and the p2p allow-list all
ask :meth:`RegistryValidators.at`, so every node agrees on every height's set, with no restart.

The registry's storage is read directly (genesis/system.py has its layout). A validator whose BLS
proof of possession does not verify is left out of the set, with an error in the log: the
registry's precompile refuses such a key in a proposal, so this only happens to a genesis whose
``alloc`` put other storage at the registry's address, and a certificate must never be checked
against a key whose possession was not proven (docs/permissioning.md).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from eth_typing import Address

from consensus.errors import InvalidConfig
from consensus.validators import Validator, ValidatorSet, possession_proven
from genesis.model import Genesis
from genesis.system import (
    ACCOUNTS_SLOT,
    AUDITOR,
    AUDITOR_PEER_ID_SLOT,
    ROLES_SLOT,
    VALIDATOR_INFO_SLOT,
    VALIDATORS_SLOT,
    array_data_slot,
    mapping_slot,
)
from vm.permissions import registry_active

log = structlog.get_logger("settle.validators")

#: Sets remembered by the registry's code and storage roots (a set is a few hundred bytes).
CACHE_SIZE = 256

_K = TypeVar("_K")
_V = TypeVar("_V")

#: Most validators read from the registry: a bound on what one height's read can cost.
MAX_VALIDATORS = 1024

#: Most role holders scanned for auditors' peer ids.
MAX_ACCOUNTS = 100_000


@dataclass(frozen=True, slots=True)
class RegistryValidator:
    """One validator as the registry holds it."""

    address: bytes
    bls_public_key: bytes
    bls_proof_of_possession: bytes
    peer_id: str


def read_bytes(state: Any, account: Address, slot: int, limit: int = 4096) -> bytes:
    """A Solidity ``bytes``/``string`` value stored at ``slot`` (short in place, long spread); at most ``limit``."""
    value = state.get_storage(account, slot)
    if value & 1 == 0:
        length = (value & 0xFF) // 2
        return value.to_bytes(32, "big")[:length]
    length = min((value - 1) // 2, limit)
    start = array_data_slot(slot)
    data = b"".join(state.get_storage(account, start + index).to_bytes(32, "big")
                    for index in range((length + 31) // 32))
    return data[:length]


def _address_array(state: Any, account: Address, slot: int, most: int) -> list[bytes]:
    """The first ``most`` entries of the Solidity ``address[]`` at storage ``slot``."""
    count = min(state.get_storage(account, slot), most)
    start = array_data_slot(slot)
    return [(state.get_storage(account, start + index) & ((1 << 160) - 1)).to_bytes(20, "big")
            for index in range(count)]


def read_registry_validators(state: Any, registry: bytes) -> tuple[RegistryValidator, ...] | None:
    """The registry's validators in proposer order, or None if the registry has no code."""
    if not registry_active(state, registry):
        return None
    account = Address(registry)
    validators = []
    for address in _address_array(state, account, VALIDATORS_SLOT, MAX_VALIDATORS):
        info = mapping_slot(address, VALIDATOR_INFO_SLOT)
        validators.append(RegistryValidator(
            address=address,
            bls_public_key=read_bytes(state, account, info),
            bls_proof_of_possession=read_bytes(state, account, info + 1),
            peer_id=read_bytes(state, account, info + 2).decode("utf-8", "replace"),
        ))
    return tuple(validators)


def read_auditor_peer_ids(state: Any, registry: bytes) -> tuple[str, ...]:
    """Peer ids of the auditors' read-only nodes (accounts with the auditor role and a peer id)."""
    if not registry_active(state, registry):
        return ()
    account = Address(registry)
    peers = []
    for address in _address_array(state, account, ACCOUNTS_SLOT, MAX_ACCOUNTS):
        if state.get_storage(account, mapping_slot(address, ROLES_SLOT)) & AUDITOR:
            peer = read_bytes(state, account, mapping_slot(address, AUDITOR_PEER_ID_SLOT), 128)
            if peer:
                peers.append(peer.decode("utf-8", "replace"))
    return tuple(peers)


def registry_version(state: Any, registry: bytes) -> bytes:
    """The registry account's code hash and storage root in ``state`` (a committed state, no pending writes).

    Everything the readers above return is a function of these two alone. Prague writes every block's
    parent hash into the history contract, so the state root changes with each block, empty or not;
    the registry's storage root changes only when a block writes the registry.
    """
    account = Address(registry)
    storage_root: bytes = state._account_db._get_storage_root(account)  # py-evm has no public accessor
    return bytes(state.get_code_hash(account)) + storage_root


class RegistryValidators:
    """The validator set (and the validators' peer ids) of any height of one node's chain."""

    def __init__(self, backend: Any, genesis: Genesis) -> None:
        self.backend = backend
        self.registry = genesis.permissions.registry_address
        self.genesis_validators = tuple(
            RegistryValidator(v.address, v.bls_public_key, v.bls_proof_of_possession, v.peer_id)
            for v in genesis.validators)
        self._cache: OrderedDict[bytes, tuple[ValidatorSet, tuple[RegistryValidator, ...]]] = OrderedDict()
        """By :func:`registry_version`: the set is a function of the registry's code and storage alone, which
        most blocks leave as they were, so the registry is read again only after a block that wrote it."""
        self._auditors: OrderedDict[bytes, tuple[str, ...]] = OrderedDict()
        """Auditors' peer ids by :func:`registry_version` (the same reason; reading them scans every account)."""

    def at(self, height: int) -> ValidatorSet:
        """The set that seals block ``height`` (the registry after block ``height - 1``)."""
        return self._entry(height)[0]

    def registry_entries_at(self, height: int) -> tuple[RegistryValidator, ...]:
        """The validators of ``height`` with their peer ids (the p2p allow-list)."""
        return self._entry(height)[1]

    def allowed_peers_at(self, height: int) -> set[str]:
        """Who may connect at ``height``: the validators' and the auditors' nodes (docs/permissioning.md)."""
        parent = self.backend.store.header_by_number(max(height, 1) - 1)
        auditors: tuple[str, ...] = ()
        if parent is not None:
            state = self.backend.state_at(parent)
            version = registry_version(state, self.registry)
            cached = self._auditors.get(version)  # () when there are none: test for None, not falsehood
            auditors = cached if cached is not None else _remember(
                self._auditors, version, read_auditor_peer_ids(state, self.registry))
        return {entry.peer_id for entry in self.registry_entries_at(height)} | set(auditors)

    def _entry(self, height: int) -> tuple[ValidatorSet, tuple[RegistryValidator, ...]]:
        if height < 1:
            height = 1
        parent = self.backend.store.header_by_number(height - 1)
        if parent is None:
            raise InvalidConfig(f"no block {height - 1} yet: the validator set of {height} is not known")
        state = self.backend.state_at(parent)
        version = registry_version(state, self.registry)
        cached = self._cache.get(version)
        if cached is not None:
            self._cache.move_to_end(version)
            return cached
        entries = read_registry_validators(state, self.registry)
        if entries is None:
            entries = self.genesis_validators
        usable = []
        for entry in entries:
            if not possession_proven(entry.bls_public_key, entry.bls_proof_of_possession):
                log.error("registry validator refused: its BLS proof of possession does not verify",
                          validator="0x" + entry.address.hex(), height=height)
                continue
            usable.append(entry)
        validator_set = ValidatorSet(tuple(
            Validator(e.address, e.bls_public_key, e.bls_proof_of_possession) for e in usable))
        return _remember(self._cache, version, (validator_set, tuple(usable)))


def _remember(cache: OrderedDict[_K, _V], key: _K, value: _V) -> _V:
    """Store ``value`` under ``key``, dropping the oldest entry beyond :data:`CACHE_SIZE`; returns ``value``."""
    cache[key] = value
    if len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return value
