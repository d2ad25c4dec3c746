"""System contracts that every genesis deploys: the Bitcoin anchor registry and the permission registry.

The permission registry (``contracts/src/permissions/PermissionRegistry.sol``,
docs/permissioning.md) sits at ``genesis.permissions.registry_address`` with its
committed runtime code and its storage written here from ``permissions`` and
``validators`` (the slot layout below is the contract's; ``tests/genesis``
reads it back through the contract's own views to keep the two in step).

The anchor registry (``contracts/src/anchor/AnchorRegistry.sol``, docs/anchoring.md)
sits at ``genesis.anchor.registry_address`` with its committed runtime code, and
the first validators in its ``writers`` mapping (storage slot 0), so that only
validators can record an anchor. An ``alloc`` entry at that address wins: a
genesis may deploy something else there on purpose.
"""

from __future__ import annotations

from eth_hash.auto import keccak

from genesis.model import Genesis, GenesisAccount

ANCHOR_REGISTRY_CONTRACT = "AnchorRegistry"
"""Name of the anchor registry's artifact in ``contracts/build``."""

WRITERS_SLOT = 0
"""Storage slot of ``AnchorRegistry.writers`` (its first state variable)."""


PERMISSION_REGISTRY_CONTRACT = "PermissionRegistry"
"""Name of the permission registry's artifact in ``contracts/build``."""

# Role bits of PermissionRegistry.roles.
MEMBER = 1
DEPLOYER = 2
AUDITOR = 4
ADMIN = 8
VALIDATOR = 16

# Storage slots of PermissionRegistry's state variables (in declaration order).
ROLES_SLOT = 0
"""``roles``: address -> role bits."""
OPEN_FLAGS_SLOT = 1
"""``openMembership`` (byte 0) and ``openDeployment`` (byte 1)."""
VALIDATORS_SLOT = 2
"""``_validators``: the validator addresses in proposer order."""
VALIDATOR_INFO_SLOT = 3
"""``_validatorInfo``: address -> (blsPublicKey, blsProofOfPossession, peerId)."""
ACCOUNTS_SLOT = 4
"""``_accounts``: every account that holds or held a role."""
ACCOUNT_INDEX_SLOT = 5
"""``_accountIndex``: index + 1 of an account in ``_accounts``."""
AUDITOR_PEER_ID_SLOT = 9
"""``auditorPeerId``: address -> the libp2p peer id of that auditor's read-only node."""


def mapping_slot(key: bytes, slot: int) -> int:
    """Solidity's storage slot of ``mapping[key]`` for a mapping declared at ``slot`` (20-byte address keys)."""
    return int.from_bytes(keccak(key.rjust(32, b"\x00") + slot.to_bytes(32, "big")), "big")


def array_data_slot(slot: int) -> int:
    """Where the elements of a dynamic array (or the data of a long ``bytes``) declared at ``slot`` start."""
    return int.from_bytes(keccak(slot.to_bytes(32, "big")), "big")


def bytes_storage(data: bytes, slot: int) -> dict[int, int]:
    """Solidity's storage of a ``bytes``/``string`` value at ``slot``: short (< 32 bytes) in place, else spread."""
    if len(data) < 32:
        return {slot: int.from_bytes(data.ljust(31, b"\x00") + bytes([len(data) * 2]), "big")} if data else {}
    storage = {slot: len(data) * 2 + 1}
    start = array_data_slot(slot)
    for index in range(0, len(data), 32):
        storage[start + index // 32] = int.from_bytes(data[index:index + 32].ljust(32, b"\x00"), "big")
    return storage


def genesis_roles(genesis: Genesis) -> dict[bytes, int]:
    """Role bits of every account named in genesis, in listing order (validators first).

    Validators and admins are members (they send governance transactions); deployers are members.
    """
    roles: dict[bytes, int] = {}
    permissions = genesis.permissions
    for accounts, bits in (
        ([v.address for v in genesis.validators], VALIDATOR | MEMBER),
        (permissions.admins, ADMIN | MEMBER),
        (permissions.members, MEMBER),
        (permissions.deployers, DEPLOYER | MEMBER),
        (permissions.auditors, AUDITOR),
    ):
        for account in accounts:
            roles[account] = roles.get(account, 0) | bits
    return roles


def permission_registry_account(genesis: Genesis) -> GenesisAccount:
    """The permission registry's genesis account: runtime code, roles, open flags and the validator set."""
    from contracts.compiler import load_artifact

    code = load_artifact(PERMISSION_REGISTRY_CONTRACT).deployed_bytecode
    permissions = genesis.permissions
    storage: dict[int, int] = {}
    roles = genesis_roles(genesis)
    flags = (1 if permissions.open_membership else 0) | ((1 if permissions.open_deployment else 0) << 8)
    if flags:
        storage[OPEN_FLAGS_SLOT] = flags
    storage[VALIDATORS_SLOT] = len(genesis.validators)
    validators_start = array_data_slot(VALIDATORS_SLOT)
    for index, validator in enumerate(genesis.validators):
        storage[validators_start + index] = int.from_bytes(validator.address, "big")
        info = mapping_slot(validator.address, VALIDATOR_INFO_SLOT)
        storage.update(bytes_storage(validator.bls_public_key, info))
        storage.update(bytes_storage(validator.bls_proof_of_possession, info + 1))
        storage.update(bytes_storage(validator.peer_id.encode(), info + 2))
    storage[ACCOUNTS_SLOT] = len(roles)
    accounts_start = array_data_slot(ACCOUNTS_SLOT)
    for index, (account, bits) in enumerate(roles.items()):
        storage[mapping_slot(account, ROLES_SLOT)] = bits
        storage[accounts_start + index] = int.from_bytes(account, "big")
        storage[mapping_slot(account, ACCOUNT_INDEX_SLOT)] = index + 1
    return GenesisAccount(balance=0, nonce=1, code=code, storage=storage)


def anchor_registry_account(genesis: Genesis) -> GenesisAccount:
    """The registry's genesis account: runtime code plus every genesis validator as a writer."""
    from contracts.compiler import load_artifact  # JSON only; keeps genesis importable without the build dir

    code = load_artifact(ANCHOR_REGISTRY_CONTRACT).deployed_bytecode
    storage = {mapping_slot(v.address, WRITERS_SLOT): 1 for v in genesis.validators}
    return GenesisAccount(balance=0, nonce=1, code=code, storage=storage)


def system_accounts(genesis: Genesis) -> dict[bytes, GenesisAccount]:
    """Accounts genesis adds to ``alloc``; addresses the alloc already holds are left to it."""
    accounts = {
        genesis.anchor.registry_address: anchor_registry_account(genesis),
        genesis.permissions.registry_address: permission_registry_account(genesis),
    }
    return {address: account for address, account in accounts.items() if address not in genesis.alloc}
