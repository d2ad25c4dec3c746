"""System contracts that every genesis deploys: today the Bitcoin anchor registry.

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


def mapping_slot(key: bytes, slot: int) -> int:
    """Solidity's storage slot of ``mapping[key]`` for a mapping declared at ``slot`` (20-byte address keys)."""
    return int.from_bytes(keccak(key.rjust(32, b"\x00") + slot.to_bytes(32, "big")), "big")


def anchor_registry_account(genesis: Genesis) -> GenesisAccount:
    """The registry's genesis account: runtime code plus every genesis validator as a writer."""
    from contracts.compiler import load_artifact  # JSON only; keeps genesis importable without the build dir

    code = load_artifact(ANCHOR_REGISTRY_CONTRACT).deployed_bytecode
    storage = {mapping_slot(v.address, WRITERS_SLOT): 1 for v in genesis.validators}
    return GenesisAccount(balance=0, nonce=1, code=code, storage=storage)


def system_accounts(genesis: Genesis) -> dict[bytes, GenesisAccount]:
    """Accounts genesis adds to ``alloc``; addresses the alloc already holds are left to it."""
    accounts = {genesis.anchor.registry_address: anchor_registry_account(genesis)}
    return {address: account for address, account in accounts.items() if address not in genesis.alloc}
