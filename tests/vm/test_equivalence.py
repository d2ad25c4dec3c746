"""Settle's fast path against stock py-evm: same blocks, same roots, receipts, logs and gas.

The reference is ``SettleReferenceChain``: py-evm's own ``Chain.import_block``
with only Settle's header rules. It re-executes every block Settle builds and
rejects it unless state root, transaction root, receipt root, bloom, gas used,
requests hash and so the block hash all match. Receipts (status, cumulative
gas, logs) are compared one by one on top.
"""
from __future__ import annotations

import dataclasses

import pytest
from eth.db.atomic import AtomicDB
from eth.db.backends.memory import MemoryDB
from eth.vm.forks.prague.constants import DEPOSIT_CONTRACT_ADDRESS, DEPOSIT_EVENT_SIGNATURE_HASH
from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.compiler import load_artifact
from genesis.model import GenesisAccount
from tests.helpers import GENESIS, SIGNER
from vm.block_builder import build_block
from vm.block_import import BlockRejected, execute_block, reuse_known_senders
from vm.chain import build_genesis, chain_class_for, reference_chain_class_for

CHAIN_ID = GENESIS.chain_id
ACCOUNTS = SIGNER.accounts[:5]
RECIPIENTS = [keccak(b"equivalence recipient %d" % i)[12:] for i in range(4)] + [a.address for a in ACCOUNTS]


def _selector(signature: bytes) -> bytes:
    return keccak(signature)[:4]


def _contract_address(sender: str, nonce: int) -> bytes:
    import rlp

    return keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]


def _sign(account, nonce: int, to: bytes | None, data: bytes = b"", value: int = 0, gas: int = 300_000) -> bytes:
    fields = {"type": 2, "chainId": CHAIN_ID, "nonce": nonce, "value": value, "gas": gas,
              "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "data": data}
    if to is not None:
        fields["to"] = to
    return bytes(Account.sign_transaction(fields, account.key).raw_transaction)


OPERATOR = ACCOUNTS[0]
OPERATOR_ADDRESS = bytes.fromhex(OPERATOR.address[2:])
TOKEN = _contract_address(OPERATOR.address, 0)
#: The coinbase of every block built here.
COINBASE = b"\x0c" * 20
HEAVY = _contract_address(OPERATOR.address, 1)


class Chains:
    """A Settle chain (builder), a second Settle chain (importer) and the stock reference, all at one head."""

    def __init__(self, genesis=GENESIS, setup: list[bytes] | None = None) -> None:
        self.builder = build_genesis(AtomicDB(), genesis)
        self.importer = build_genesis(AtomicDB(), genesis)
        self.reference = build_genesis(AtomicDB(), genesis, reference_chain_class_for(genesis.chain_id))
        if setup:
            self.apply(setup)

    def decode(self, raws: list[bytes]) -> list:
        builder = self.builder.get_vm().get_transaction_builder()
        return [builder.decode(raw) for raw in raws]

    def apply(self, raws: list[bytes]):
        """Build a block from ``raws``, import it both ways, and check all three agree."""
        head = self.builder.get_canonical_head()
        built = build_block(self.builder, head, self.decode(raws), timestamp=head.timestamp + 1,
                            coinbase=COINBASE)
        fresh = self._fresh(built.block)
        executed = execute_block(self.importer, self.importer.get_canonical_head(), fresh)
        imported = self.reference.import_block(self._fresh(built.block)).imported_block
        assert imported.hash == executed.block.hash == built.block.hash
        reference_receipts = imported.get_receipts(self.reference.chaindb)
        assert tuple(reference_receipts) == built.receipts == executed.receipts
        for ours, theirs in zip(built.receipts, reference_receipts, strict=True):
            assert ours.logs == theirs.logs and ours.gas_used == theirs.gas_used
        return built

    def _fresh(self, block):
        import rlp

        return rlp.decode(rlp.encode(block), sedes=type(block))

    def fork(self) -> Chains:
        """An independent copy of all three chains at the current head."""
        copy = Chains.__new__(Chains)
        for name in ("builder", "importer", "reference"):
            chain = getattr(self, name)
            kv = dict(chain.chaindb.db.wrapped_db.kv_store)
            setattr(copy, name, type(chain)(AtomicDB(MemoryDB(kv))))
        return copy


SETUP = [
    _sign(OPERATOR, 0, None, load_artifact("SettleTestToken").bytecode
          + encode(["string", "string", "uint256"], ["Equivalence", "EQ", 10**24]), gas=3_000_000),
    _sign(OPERATOR, 1, None, load_artifact("StorageHeavy").bytecode, gas=1_000_000),
]


@pytest.fixture(scope="module")
def deployed() -> Chains:
    chains = Chains(setup=SETUP)
    assert chains.builder.get_vm().state.get_code(TOKEN)
    return chains


def test_benchmark_workloads_match_stock(deployed: Chains) -> None:
    """ETH, ERC-20, DvP-like and storage-heavy transactions in one block, as in ``settle bench exec``."""
    chains = deployed.fork()
    raws, nonce = [], 2
    transfer = _selector(b"transfer(address,uint256)")
    for i in range(12):
        raws.append(_sign(OPERATOR, nonce, RECIPIENTS[i % 4], value=10**15, gas=21_000))
        payload = transfer + encode(["address", "uint256"], [RECIPIENTS[i % 4], 7])
        raws.append(_sign(OPERATOR, nonce + 1, TOKEN, payload))
        raws.append(_sign(OPERATOR, nonce + 2, HEAVY, _selector(b"write(uint256)") + encode(["uint256"], [3])))
        nonce += 3
    built = chains.apply(raws)
    assert len(built.receipts) == 36 and all(r.state_root == b"\x01" for r in built.receipts)
    assert sum(len(r.logs) for r in built.receipts) == 12


ACTIONS = st.one_of(
    st.tuples(st.just("eth"), st.integers(0, 4), st.integers(0, 8), st.sampled_from([0, 1, 10**18, 10**30])),
    st.tuples(st.just("erc20"), st.integers(0, 4), st.integers(0, 8), st.sampled_from([0, 1, 10**20, 10**30])),
    st.tuples(st.just("storage"), st.integers(0, 4), st.integers(0, 12), st.sampled_from([22_000, 60_000, 300_000])),
    st.tuples(st.just("revert"), st.integers(0, 4), st.integers(0, 3), st.sampled_from([30_000, 100_000])),
    st.tuples(st.just("gap"), st.integers(0, 4), st.just(0), st.just(0)),
    st.tuples(st.just("coinbase"), st.integers(0, 4), st.just(0), st.sampled_from([0, 1])),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ACTIONS, min_size=1, max_size=14))
def test_random_blocks_match_stock(deployed: Chains, actions: list) -> None:
    """Random senders, recipients, values and calls, including reverts, out-of-gas and invalid nonces."""
    chains = deployed.fork()
    nonces = {i: chains.builder.get_vm().state.get_nonce(bytes.fromhex(a.address[2:])) for i, a in enumerate(ACCOUNTS)}
    raws = []
    for kind, sender, arg, amount in actions:
        account, nonce = ACCOUNTS[sender], nonces[sender]
        if kind == "eth":
            raws.append(_sign(account, nonce, RECIPIENTS[arg], value=amount, gas=21_000))
        elif kind == "coinbase":  # touches the block's coinbase; a value makes it exist for later transactions
            raws.append(_sign(account, nonce, COINBASE, value=amount, gas=21_000))
        elif kind == "erc20":
            data = _selector(b"transfer(address,uint256)") + encode(["address", "uint256"], [RECIPIENTS[arg], amount])
            raws.append(_sign(account, nonce, TOKEN, data, gas=80_000))
        elif kind == "storage":
            raws.append(
                _sign(account, nonce, HEAVY, _selector(b"write(uint256)") + encode(["uint256"], [arg]), gas=amount)
            )
        elif kind == "revert":
            data = (
                _selector(b"failWithCustomError(uint256)") + encode(["uint256"], [arg])
                if arg % 2
                else _selector(b"failWithReason()")
            )
            raws.append(_sign(account, nonce, TOKEN, data, gas=amount))
        else:  # a nonce gap: the builder leaves it out
            raws.append(_sign(account, nonce + 5, RECIPIENTS[0], value=1, gas=21_000))
            continue
        nonces[sender] += 1
    built = chains.apply(raws)
    assert len(built.receipts) + len(built.excluded) == len(raws)


def test_deposit_requests_match_stock() -> None:
    """Prague deposit requests (EIP-6110) are read from the receipts in hand; the requests hash must match."""
    # CALLDATACOPY(0, 0, 576); LOG1(0, 576, DepositEvent topic); STOP
    code = bytes.fromhex("6102406000600037") + b"\x7f" + DEPOSIT_EVENT_SIGNATURE_HASH + bytes.fromhex("6102406000a100")
    genesis = dataclasses.replace(
        GENESIS, alloc={**GENESIS.alloc, DEPOSIT_CONTRACT_ADDRESS: GenesisAccount(balance=0, code=code)}
    )
    chains = Chains(genesis)
    payload = bytes(range(256)) * 2 + bytes(64)
    built = chains.apply(
        [
            _sign(OPERATOR, 0, DEPOSIT_CONTRACT_ADDRESS, payload, gas=100_000),
            _sign(OPERATOR, 1, RECIPIENTS[0], value=1, gas=21_000),
        ]
    )
    assert built.receipts[0].logs[0].address == DEPOSIT_CONTRACT_ADDRESS
    empty = build_genesis(AtomicDB(), GENESIS)
    plain = build_block(empty, empty.get_canonical_head(), [], timestamp=1, coinbase=COINBASE)
    assert built.block.header.requests_hash != plain.block.header.requests_hash


def _tampered(block, **fields):
    return block.copy(header=block.header.copy(**fields))


@pytest.mark.parametrize("field", ["state_root", "receipt_root", "transaction_root", "gas_used", "bloom"])
def test_execute_block_rejects_a_wrong_root(deployed: Chains, field: str) -> None:
    chains = deployed.fork()
    head = chains.builder.get_canonical_head()
    txs = chains.decode([_sign(OPERATOR, 2, RECIPIENTS[0], value=5, gas=21_000)])
    built = build_block(chains.builder, head, txs, timestamp=head.timestamp + 1, coinbase=COINBASE)
    wrong = {"gas_used": built.block.header.gas_used + 1, "bloom": 1}.get(field, b"\x11" * 32)
    with pytest.raises(BlockRejected) as rejected:
        execute_block(chains.importer, chains.importer.get_canonical_head(), _tampered(built.block, **{field: wrong}))
    assert rejected.value.field in (field, "hash") or "invalid" in rejected.value.reason
    # The untampered block still imports on the same chain.
    assert (
        execute_block(chains.importer, chains.importer.get_canonical_head(), built.block).block.hash == built.block.hash
    )


def test_execute_block_rejects_invalid_transaction_and_wrong_parent(deployed: Chains) -> None:
    chains = deployed.fork()
    head = chains.builder.get_canonical_head()
    good = build_block(
        chains.builder,
        head,
        chains.decode([_sign(OPERATOR, 2, RECIPIENTS[0], value=1, gas=21_000)]),
        timestamp=head.timestamp + 1,
        coinbase=COINBASE,
    )
    bad_tx = chains.decode([_sign(OPERATOR, 9, RECIPIENTS[0], value=1, gas=21_000)])[0]
    with pytest.raises(BlockRejected, match="transaction 0"):
        execute_block(chains.importer, chains.importer.get_canonical_head(), good.block.copy(transactions=[bad_tx]))
    genesis_header = chains.importer.get_canonical_block_header_by_number(0)
    with pytest.raises(BlockRejected) as rejected:
        execute_block(chains.importer, genesis_header, good.block)
    assert rejected.value.field == "parent_hash"


def test_senders_known_from_the_mempool_are_reused_and_change_nothing(deployed: Chains) -> None:
    chains = deployed.fork()
    head = chains.builder.get_canonical_head()
    raws = [_sign(OPERATOR, 2 + i, RECIPIENTS[i], value=1, gas=21_000) for i in range(3)]
    built = build_block(chains.builder, head, chains.decode(raws), timestamp=head.timestamp + 1, coinbase=COINBASE)
    mempool = {tx.hash: tx for tx in chains.decode(raws)}
    recovered = [tx.sender for tx in list(mempool.values())[:2]]  # admission saw two of the three
    fresh = chains._fresh(built.block)
    assert reuse_known_senders(fresh.transactions, mempool.get) == 2
    assert [vars(tx).get("sender") for tx in fresh.transactions] == recovered + [None]
    assert recovered == [bytes.fromhex(OPERATOR.address[2:])] * 2
    executed = execute_block(chains.importer, chains.importer.get_canonical_head(), fresh)
    assert executed.block.hash == built.block.hash and executed.receipts == built.receipts


def test_a_coinbase_touched_empty_then_given_value_matches_stock(deployed: Chains) -> None:
    """Zero fees: the coinbase is cleared while empty (even when a transfer of 0 touches it),
    kept once it holds value."""
    chains = deployed.fork()
    nonce = chains.builder.get_vm().state.get_nonce(OPERATOR_ADDRESS)
    transfer = _selector(b"transfer(address,uint256)") + encode(["address", "uint256"], [RECIPIENTS[0], 5])
    raws = [
        _sign(OPERATOR, nonce, TOKEN, transfer),
        _sign(OPERATOR, nonce + 1, COINBASE, value=0, gas=21_000),
        _sign(OPERATOR, nonce + 2, TOKEN, transfer),
        _sign(OPERATOR, nonce + 3, COINBASE, value=1, gas=21_000),
        _sign(OPERATOR, nonce + 4, TOKEN, transfer),
    ]
    built = chains.apply(raws)
    assert all(r.state_root == b"\x01" for r in built.receipts)
    state = chains.builder.get_vm(built.block.header).state
    assert state.account_exists(COINBASE) and state.get_balance(COINBASE) == 1


def test_reference_chain_is_stock_py_evm() -> None:
    """The cross-check is only worth something if the reference runs none of Settle's overrides."""
    from eth.vm.forks.prague import PragueVM

    reference_vm = reference_chain_class_for(CHAIN_ID).vm_configuration[0][1]
    settle_vm = chain_class_for(CHAIN_ID).vm_configuration[0][1]
    for method in (
        "set_block_transactions_and_withdrawals",
        "validate_block",
        "increment_blob_gas_used",
        "process_deposit_request_data",
        "apply_transaction",
        "apply_all_transactions",
    ):
        assert getattr(reference_vm, method) is getattr(PragueVM, method)
    assert settle_vm.set_block_transactions_and_withdrawals is not PragueVM.set_block_transactions_and_withdrawals


def test_deferred_header_resolves_to_the_successive_copies() -> None:
    from vm.fast_path import DeferredHeader

    header = build_genesis(AtomicDB(), GENESIS).get_canonical_head()
    copied = header.copy(gas_used=5, bloom=3).copy(gas_used=9).copy(blob_gas_used=0)
    deferred = DeferredHeader(header).copy(gas_used=5, bloom=3).copy(gas_used=9).copy(blob_gas_used=0)
    assert deferred.gas_used == 9 and deferred.bloom == 3 and deferred.gas_limit == header.gas_limit
    assert deferred.resolve() == copied and deferred.resolve().hash == copied.hash
    assert DeferredHeader(header).resolve() is header
