"""The permission registry in genesis and its rules as consensus rules (vm/permissions.py).

Real LevelDB stores, real py-evm, the committed PermissionRegistry bytecode.
"""
from __future__ import annotations

import dataclasses

import pytest
import rlp
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from consensus.validators import prove_possession
from contracts.compiler import load_artifact
from genesis.keys import generate_validator_keys
from genesis.model import DEFAULT_REGISTRY_ADDRESS, PermissionsConfig
from node.backend import Backend, CallRequest, InvalidBlock, InvalidTransaction
from node.store import ChainStore
from tests.helpers import GENESIS, SIGNER, transfer
from vm.chain import chain_class_for

VALIDATOR = generate_validator_keys(b"settle dev validator")
MEMBER, DEPLOYER, OUTSIDER = (SIGNER.accounts[i] for i in (1, 2, 3))
CLOSED = dataclasses.replace(
    GENESIS,
    permissions=PermissionsConfig(
        admins=(VALIDATOR.address,), members=(bytes.fromhex(MEMBER.address[2:]),),
        deployers=(bytes.fromhex(DEPLOYER.address[2:]),), open_membership=False, open_deployment=False,
    ),
)


def _signed(account, nonce: int, to: bytes | None, data: bytes = b"", gas: int = 3_000_000) -> bytes:
    fields = {"chainId": 1337, "nonce": nonce, "value": 0, "gas": gas, "maxFeePerGas": 0,
              "maxPriorityFeePerGas": 0, "type": 2, "data": data}
    if to is not None:
        fields["to"] = to_checksum_address(to)
    return bytes(Account.sign_transaction(fields, account.key).raw_transaction)


def _calldata(signature: str, types: list[str], args: list) -> bytes:
    return function_signature_to_4byte_selector(signature) + encode(types, args)


@pytest.fixture
def backend(tmp_path):
    store = ChainStore(tmp_path / "node", CLOSED)
    yield Backend(store, coinbase=VALIDATOR.address)
    store.close()


def _view(backend: Backend, signature: str, types: list[str], args: list, out: list[str]) -> tuple:
    request = CallRequest(sender=b"\x00" * 20, to=DEFAULT_REGISTRY_ADDRESS, gas=None, value=0,
                          data=_calldata(signature, types, args))
    return decode(out, backend.call(request, backend.head))


def _address(account) -> bytes:
    return bytes.fromhex(account.address[2:])


def _commit(backend: Backend, *raws: bytes):
    for raw in raws:
        backend.send_raw_transaction(raw)
    pending = backend.build_block()
    assert pending is not None
    backend.commit_block(pending)
    return pending


def test_registry_views_read_the_genesis_lists(backend):
    """genesis/system.py's storage layout is the contract's: its own views read the genesis lists back."""
    validator = CLOSED.validators[0]
    assert _view(backend, "validators()", [], [], ["address[]"]) == (("0x" + validator.address.hex(),),)
    key, pop, peer = _view(backend, "validatorInfo(address)", ["address"], [validator.address],
                           ["bytes", "bytes", "string"])
    assert (key, pop, peer) == (validator.bls_public_key, validator.bls_proof_of_possession, validator.peer_id)
    for account, member, deployer in ((MEMBER, True, False), (DEPLOYER, True, True), (OUTSIDER, False, False)):
        assert _view(backend, "isMember(address)", ["address"], [account.address], ["bool"]) == (member,)
        assert _view(backend, "isDeployer(address)", ["address"], [account.address], ["bool"]) == (deployer,)
    assert _view(backend, "isAdmin(address)", ["address"], [validator.address], ["bool"]) == (True,)
    assert _view(backend, "openMembership()", [], [], ["bool"]) == (False,)
    addresses, roles = _view(backend, "accounts()", [], [], ["address[]", "uint256[]"])
    assert [a.lower() for a in addresses] == [
        "0x" + validator.address.hex(), MEMBER.address.lower(), DEPLOYER.address.lower()]
    assert list(roles) == [16 | 8 | 1, 1, 2 | 1]


def test_dev_genesis_stays_open(tmp_path):
    store = ChainStore(tmp_path / "dev", GENESIS)
    try:
        dev = Backend(store, coinbase=VALIDATOR.address)
        outsider = Account.create()
        dev.send_raw_transaction(_signed(outsider, 0, None, load_artifact("FactoryChild").bytecode))
    finally:
        store.close()


def test_mempool_refuses_a_non_member(backend):
    with pytest.raises(InvalidTransaction, match=f"^sender {OUTSIDER.address.lower()} is not a member$"):
        backend.send_raw_transaction(transfer(3, 0))
    backend.send_raw_transaction(transfer(1, 0))  # a member may send


def test_mempool_refuses_a_creation_by_a_non_deployer(backend):
    code = load_artifact("FactoryChild").bytecode
    with pytest.raises(InvalidTransaction, match=f"^sender {MEMBER.address.lower()} may not deploy contracts$"):
        backend.send_raw_transaction(_signed(MEMBER, 0, None, code))
    backend.send_raw_transaction(_signed(DEPLOYER, 0, None, code))


def test_byzantine_proposers_block_with_a_non_members_transaction_is_invalid(tmp_path):
    """A proposer that skips the rule builds a block every honest validator refuses to re-execute."""
    byzantine_store, honest_store = (ChainStore(tmp_path / name, CLOSED) for name in ("byzantine", "honest"))
    try:
        # The Byzantine node looks for the registry where there is none: it enforces nothing.
        byzantine_store.chain_class = chain_class_for(CLOSED.chain_id, CLOSED.transaction_gas_cap, b"\xde" * 20)
        byzantine = Backend(byzantine_store, coinbase=VALIDATOR.address)
        honest = Backend(honest_store, coinbase=VALIDATOR.address)
        raw = transfer(3, 0)
        transaction = byzantine.decode_transaction(raw)
        byzantine.mempool.add(transaction, len(raw), byzantine.account_view)
        pending = byzantine.build_block()
        assert pending is not None and len(pending.block.transactions) == 1
        block = honest.decode_block(rlp.encode(pending.block))
        with pytest.raises(InvalidBlock, match=f"sender {OUTSIDER.address.lower()} is not a member"):
            honest.execute_block(block)
        assert honest.head.block_number == 0
    finally:
        byzantine_store.close()
        honest_store.close()


def test_honest_builder_leaves_a_forbidden_transaction_out(backend):
    raw = transfer(3, 0)
    backend.mempool.add(backend.decode_transaction(raw), len(raw), backend.account_view)
    pending = backend.build_block(allow_empty=True)
    assert pending is not None and not pending.block.transactions
    assert "is not a member" in pending.excluded[0].reason


def test_factory_creates_only_for_a_deployer_origin(backend):
    """Rule 3: a member who is not a deployer cannot create through a factory; a deployer can."""
    deployed = _commit(backend, _signed(DEPLOYER, 0, None, load_artifact("ChildFactory").bytecode))
    assert deployed.receipts[0].state_root == b"\x01"
    factory = keccak(rlp.encode([_address(DEPLOYER), 0]))[12:]
    make = _calldata("make()", [], [])
    make2 = _calldata("make2(bytes32)", ["bytes32"], [b"\x01" * 32])
    done = _commit(backend, _signed(MEMBER, 0, factory, make), _signed(MEMBER, 1, factory, make2),
                   _signed(DEPLOYER, 1, factory, make))
    member_create, member_create2, deployer_create = done.receipts
    assert member_create.state_root == b"" and member_create2.state_root == b""  # reverted
    assert deployer_create.state_root == b"\x01" and deployer_create.logs


def _propose_add(backend: Backend, keys, proof: bytes, nonce: int):
    data = _calldata("proposeAddValidator(address,bytes,bytes,string)", ["address", "bytes", "bytes", "string"],
                     [keys.address, keys.bls_public_key, proof, keys.genesis_validator().peer_id])
    validator_account = Account.from_key(VALIDATOR.account_key)
    return _commit(backend, _signed(validator_account, nonce, DEFAULT_REGISTRY_ADDRESS, data)).receipts[0]


def test_registry_refuses_a_rogue_validator_key(backend):
    """The proof-of-possession precompile makes the proposal revert; a valid proof passes (one validator)."""
    newcomer = generate_validator_keys(b"newcomer")
    other = generate_validator_keys(b"other")
    wrong = prove_possession(other.bls_secret_key)  # a valid proof, of another key
    assert _propose_add(backend, newcomer, wrong, 0).state_root == b""
    assert _propose_add(backend, newcomer, b"", 1).state_root == b""
    assert _view(backend, "validators()", [], [], ["address[]"])[0] == ("0x" + VALIDATOR.address.hex(),)
    good = _propose_add(backend, newcomer, newcomer.genesis_validator().bls_proof_of_possession, 2)
    assert good.state_root == b"\x01"
    topics = {log.topics[0] for log in good.logs}
    assert int.from_bytes(keccak(b"ValidatorAdded(address,bytes,string)"), "big") in topics
    assert len(_view(backend, "validators()", [], [], ["address[]"])[0]) == 2
    assert _view(backend, "isMember(address)", ["address"], [newcomer.address], ["bool"]) == (True,)


def test_genesis_file_says_open_or_closed():
    from genesis.loader import genesis_to_json, parse_genesis

    document = genesis_to_json(CLOSED)
    assert document["permissions"]["membership"] == "closed" and document["permissions"]["deployment"] == "closed"
    parsed = parse_genesis(document)
    assert not parsed.permissions.open_membership and not parsed.permissions.open_deployment
    assert "membership" not in genesis_to_json(GENESIS)["permissions"]  # open: existing files keep their form
    document["permissions"]["membership"] = "ajar"
    with pytest.raises(Exception, match="permissions.membership.*\"open\" or \"closed\""):
        parse_genesis(document)
