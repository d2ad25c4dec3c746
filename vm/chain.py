"""The py-evm chain class for one Settle network, and its genesis block."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth.abc import AtomicDatabaseAPI, BlockHeaderAPI, DatabaseAPI
from eth.chains.base import Chain
from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.db.schema import SchemaV1
from eth_typing import Address, BlockNumber, Hash32

from genesis.model import DEFAULT_REGISTRY_ADDRESS
from genesis.system import system_accounts

if TYPE_CHECKING:
    from genesis.model import Genesis
from vm.encoding import encode_list, encode_uint, is_uint
from vm.fork import ZERO_HASH, SettleReferenceVM, SettleVM


class SettleChainDB(ChainDB):
    """py-evm's ``ChainDB``, writing each transaction's lookup entry without rlp's object layers.

    Persisting a block writes, per transaction, its hash → ``BlockDataKey``
    (block number, index): a list of two integers, encoded here straight from
    the RLP rules (``tests/vm/test_chain.py`` compares the bytes with rlp's).
    """

    @staticmethod
    def _add_transaction_to_canonical_chain(
        db: DatabaseAPI, transaction_hash: Hash32, block_header: BlockHeaderAPI, index: int
    ) -> None:
        block_number = block_header.block_number
        if not (is_uint(block_number) and is_uint(index)):
            ChainDB._add_transaction_to_canonical_chain(db, transaction_hash, block_header, index)
            return
        db.set(
            SchemaV1.make_transaction_hash_to_block_lookup_key(transaction_hash),
            encode_list([encode_uint(block_number), encode_uint(index)]),
        )


class SettleChain(Chain):
    """A chain that runs :class:`SettleVM` from block 0.

    Configure one per network with :func:`chain_class_for`; ``chain_id`` is the
    only network-specific class attribute py-evm needs.
    """

    vm_configuration = ((BlockNumber(0), SettleVM),)
    chaindb_class = SettleChainDB
    chain_id = 1337


class SettleReferenceChain(Chain):
    """The same chain on :class:`SettleReferenceVM`: py-evm's own block processing, for cross-checks."""

    vm_configuration = ((BlockNumber(0), SettleReferenceVM),)
    chain_id = 1337


def _with_registry(vm_class: Any, permission_registry: bytes) -> Any:
    """``vm_class`` reading the permission registry (vm/permissions.py) at a non-default address."""
    if permission_registry == DEFAULT_REGISTRY_ADDRESS:
        return vm_class
    state_class = vm_class._state_class
    computation_class = state_class.computation_class.configure(permission_registry=permission_registry)
    return vm_class.configure(_state_class=state_class.configure(computation_class=computation_class))


def chain_class_for(
    chain_id: int, max_transaction_gas: int | None = None, permission_registry: bytes = DEFAULT_REGISTRY_ADDRESS
) -> type[SettleChain]:
    """The chain class of one network: its chain id, its per-transaction gas cap if it has one, and
    where its permission registry is."""
    if max_transaction_gas is None and permission_registry == DEFAULT_REGISTRY_ADDRESS:
        return SettleChain.configure(__name__=f"SettleChain{chain_id}", chain_id=chain_id)
    vm_class = _with_registry(
        SettleVM.configure(__name__="SettleVM", max_transaction_gas=max_transaction_gas), permission_registry
    )
    return SettleChain.configure(
        __name__=f"SettleChain{chain_id}", chain_id=chain_id, vm_configuration=((0, vm_class),)
    )


def reference_chain_class_for(chain_id: int, max_transaction_gas: int | None = None) -> type[SettleReferenceChain]:
    if max_transaction_gas is None:
        return SettleReferenceChain.configure(__name__=f"SettleReferenceChain{chain_id}", chain_id=chain_id)
    vm_class = SettleReferenceVM.configure(__name__="SettleReferenceVM", max_transaction_gas=max_transaction_gas)
    return SettleReferenceChain.configure(
        __name__=f"SettleReferenceChain{chain_id}", chain_id=chain_id, vm_configuration=((0, vm_class),)
    )


def genesis_state(genesis: Genesis) -> dict[Address, dict[str, Any]]:
    """The allocation in py-evm's ``apply_state_dict`` form, system contracts (genesis/system.py) included."""
    return {
        Address(address): {
            "balance": account.balance,
            "nonce": account.nonce,
            "code": account.code,
            "storage": dict(account.storage),
        }
        for address, account in {**genesis.alloc, **system_accounts(genesis)}.items()
    }


def genesis_params(genesis: Genesis) -> dict[str, Any]:
    """Header fields of block 0. Coinbase is the first validator's address."""
    return {
        "difficulty": 0,
        "gas_limit": genesis.gas_limit,
        "timestamp": genesis.timestamp,
        "extra_data": genesis.extra_data,
        "coinbase": genesis.validators[0].address,
        "mix_hash": ZERO_HASH,
        "nonce": b"\x00" * 8,
        "base_fee_per_gas": 0,
        "parent_beacon_block_root": ZERO_HASH,
        "blob_gas_used": 0,
        "excess_blob_gas": 0,
        "withdrawals_root": BLANK_ROOT_HASH,
    }


def build_genesis(
    db: AtomicDatabaseAPI, genesis: Genesis, chain_class: type[Chain] | None = None
) -> SettleChain:
    """Write genesis state and header into ``db`` and return the chain on it.

    ``chain_class`` defaults to the network's :func:`chain_class_for`; tests and
    benchmarks pass :func:`reference_chain_class_for` to get py-evm's own path.
    """
    chain_class = chain_class or chain_class_for(
        genesis.chain_id, genesis.transaction_gas_cap, genesis.permissions.registry_address
    )
    # py-evm types from_genesis as returning BaseChain and its state as AccountDetails (a TypedDict of the same keys).
    return chain_class.from_genesis(  # type: ignore[return-value]
        db, genesis_params(genesis), genesis_state(genesis)  # type: ignore[arg-type]
    )


def genesis_header(genesis: Genesis) -> BlockHeaderAPI:
    """Block 0's header, computed in memory (to compare against a data dir)."""
    return build_genesis(AtomicDB(), genesis).get_canonical_head()
