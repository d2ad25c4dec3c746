"""Each height's validator set comes from the permission registry after the block before it."""
from __future__ import annotations

import pytest
from eth_account import Account

from consensus.validators import quorum_size
from genesis.keys import generate_validator_keys
from genesis.model import DEFAULT_REGISTRY_ADDRESS
from node.backend import Backend
from node.store import ChainStore
from node.validator_registry import RegistryValidators, read_bytes
from tests.vm.test_permissions import CLOSED, VALIDATOR, _calldata, _commit, _signed

NEWCOMER = generate_validator_keys(b"newcomer")


@pytest.fixture
def node(tmp_path):
    store = ChainStore(tmp_path / "node", CLOSED)
    backend = Backend(store, coinbase=VALIDATOR.address)
    yield backend, RegistryValidators(backend, CLOSED)
    store.close()


def _add_newcomer(backend: Backend, nonce: int):
    entry = NEWCOMER.genesis_validator()
    data = _calldata("proposeAddValidator(address,bytes,bytes,string)", ["address", "bytes", "bytes", "string"],
                     [entry.address, entry.bls_public_key, entry.bls_proof_of_possession, entry.peer_id])
    return _commit(backend, _signed(Account.from_key(VALIDATOR.account_key), nonce, DEFAULT_REGISTRY_ADDRESS, data))


def test_genesis_set_is_read_from_the_registry(node):
    backend, registry = node
    validator_set = registry.at(1)
    assert [v.address for v in validator_set.validators] == [VALIDATOR.address]
    (entry,) = registry.registry_entries_at(1)
    assert entry.peer_id == CLOSED.validators[0].peer_id
    assert entry.bls_proof_of_possession == CLOSED.validators[0].bls_proof_of_possession


def test_a_change_decided_in_block_h_applies_from_h_plus_1(node):
    backend, registry = node
    _add_newcomer(backend, 0)  # block 1: one validator, its own vote passes it
    assert registry.at(1).n == 1  # block 1 was sealed by the old set
    grown = registry.at(2)
    assert [v.address for v in grown.validators] == [VALIDATOR.address, NEWCOMER.address]
    assert grown.quorum == quorum_size(2) == 2
    assert registry.registry_entries_at(2)[1].peer_id == NEWCOMER.genesis_validator().peer_id

    # Removing the genesis validator now needs both votes (more than half of two).
    remove = _calldata("proposeRemoveValidator(address)", ["address"], [VALIDATOR.address])
    _commit(backend, _signed(Account.from_key(VALIDATOR.account_key), 1, DEFAULT_REGISTRY_ADDRESS, remove))
    assert registry.at(3).n == 2  # one vote of two: not passed
    vote = _calldata("vote(uint256)", ["uint256"], [2])
    _commit(backend, _signed(Account.from_key(NEWCOMER.account_key), 0, DEFAULT_REGISTRY_ADDRESS, vote))
    assert [v.address for v in registry.at(4).validators] == [NEWCOMER.address]
    assert registry.at(3).n == 2  # earlier heights keep their own set


def test_long_and_short_bytes_read_back(node):
    backend, _ = node
    state = backend.state_at(backend.head)
    from genesis.system import VALIDATOR_INFO_SLOT, mapping_slot

    info = mapping_slot(VALIDATOR.address, VALIDATOR_INFO_SLOT)
    assert read_bytes(state, DEFAULT_REGISTRY_ADDRESS, info) == VALIDATOR.bls_public_key
    assert read_bytes(state, DEFAULT_REGISTRY_ADDRESS, 12345) == b""


def test_empty_blocks_do_not_read_the_registry_again(node, monkeypatch):
    """A block that does not write the registry leaves its code and storage root as they were, so the set
    and the allow-list of the next height are the ones already read, whatever the state root."""
    import node.validator_registry as module
    backend, registry = node
    reads = {"validators": 0, "auditors": 0}
    real_validators, real_auditors = module.read_registry_validators, module.read_auditor_peer_ids

    def counting_validators(state, address):
        reads["validators"] += 1
        return real_validators(state, address)

    def counting_auditors(state, address):
        reads["auditors"] += 1
        return real_auditors(state, address)

    monkeypatch.setattr(module, "read_registry_validators", counting_validators)
    monkeypatch.setattr(module, "read_auditor_peer_ids", counting_auditors)
    first = registry.at(1)
    peers = registry.allowed_peers_at(1)
    for _ in range(3):
        backend.produce_block(allow_empty=True)
    assert registry.at(4) is first
    assert registry.allowed_peers_at(4) == peers
    assert reads == {"validators": 1, "auditors": 1}
    before = backend.head.state_root
    _commit(backend, _signed(Account.from_key(VALIDATOR.account_key), 0, b"\x42" * 20, b""))  # block 4
    assert backend.head.state_root != before  # the sender's nonce moved, the registry did not
    assert registry.at(5) is first and registry.allowed_peers_at(5) == peers
    assert reads == {"validators": 1, "auditors": 1}
    _add_newcomer(backend, 1)  # block 5 writes the registry: the next height reads it again
    assert registry.at(6).n == 2
    assert reads["validators"] == 2
