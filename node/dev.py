"""The one-command developer chain: `settle node dev`.

A single validator with a fixed, deterministic genesis, so that restarting with
the same data dir resumes the same chain. Ten accounts from the published dev
mnemonic are funded and unlocked.
"""
from __future__ import annotations

from pathlib import Path

from genesis.keys import ValidatorKeys, generate_validator_keys
from genesis.model import ConsensusParams, Genesis, GenesisAccount, PermissionsConfig
from node.dev_accounts import DEV_BALANCE, DevSigner

DEV_CHAIN_ID = 1337
DEV_GAS_LIMIT = 60_000_000
DEV_VALIDATOR_SEED = b"settle dev validator"


def dev_genesis(signer: DevSigner) -> Genesis:
    """Fixed for a given signer set: CLI flags such as --block-period must not change it."""
    validator = generate_validator_keys(DEV_VALIDATOR_SEED)
    accounts = signer.addresses
    return Genesis(
        chain_id=DEV_CHAIN_ID,
        gas_limit=DEV_GAS_LIMIT,
        timestamp=0,
        extra_data=b"settle dev",
        alloc={address: GenesisAccount(balance=DEV_BALANCE) for address in accounts},
        validators=(validator.genesis_validator(),),
        consensus=ConsensusParams(),
        permissions=PermissionsConfig(
            admins=(validator.address,), members=tuple(accounts), deployers=tuple(accounts)
        ),
    )


def dev_validator_keys() -> ValidatorKeys:
    """The dev chain's single validator: its keys are public, like the dev accounts."""
    return generate_validator_keys(DEV_VALIDATOR_SEED)


def dev_coinbase() -> bytes:
    return dev_validator_keys().address


DEFAULT_DEV_DATADIR = Path(".settle/dev")
