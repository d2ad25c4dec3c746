"""Compact proposals (issue 21): header and transaction hashes on the wire, the block rebuilt from the mempool."""
import pytest
import rlp
from eth_account import Account

from consensus.messages import MAX_MESSAGE_BYTES, Proposal, decode, sign
from node import compact_block
from node.backend import Backend
from node.compact_block import CompactBlockInvalid, transaction_bytes
from node.store import ChainStore
from tests.helpers import GENESIS, SIGNER, RecordingNetwork, transfer

CHAIN_ID = GENESIS.chain_id
PROPOSER_KEY = b"\x07" * 32


def _legacy(sender_index: int, nonce: int) -> bytes:
    fields = {"chainId": CHAIN_ID, "nonce": nonce, "to": SIGNER.accounts[9].address, "value": 1, "gas": 21000,
              "gasPrice": 0}
    return bytes(Account.sign_transaction(fields, SIGNER.accounts[sender_index].key).raw_transaction)


RAWS = [transfer(0, 0), _legacy(1, 0), transfer(0, 1, data=b"\x01" * 300, gas=40_000)]


@pytest.fixture
def pair(tmp_path):
    stores = [ChainStore(tmp_path / name, GENESIS) for name in ("proposer", "validator")]
    backends = [Backend(store, coinbase=bytes([i + 1]) * 20) for i, store in enumerate(stores)]
    for raw in RAWS:
        backends[0].send_raw_transaction(raw)
    yield backends
    for store in stores:
        store.close()


def _signed_proposal(proposer: Backend):
    pending = proposer.build_block()
    assert pending is not None and len(pending.block.transactions) == len(RAWS)
    block_bytes = rlp.encode(pending.block)
    message = sign(Proposal(1, 0, pending.block.hash, block_bytes), CHAIN_ID, PROPOSER_KEY)
    return message, block_bytes, pending.block


def _from(backend: Backend, fetched: dict[bytes, bytes] | None = None):
    def transaction(tx_hash: bytes) -> bytes | None:
        held = backend.mempool.get(tx_hash)
        return transaction_bytes(held) if held is not None else (fetched or {}).get(tx_hash)
    return transaction


def test_round_trip_rebuilds_the_signed_message_byte_for_byte(pair):
    proposer, validator = pair
    for raw in RAWS:
        validator.send_raw_transaction(raw, local=False)
    message, block_bytes, block = _signed_proposal(proposer)
    frame = compact_block.compact(message.raw, block_bytes, block)
    assert frame is not None and frame[:1] == compact_block.COMPACT_PREFIX
    assert len(frame) < len(message.raw) - 300  # the transactions stay home
    proposal = compact_block.parse(frame)
    assert proposal.hashes == tuple(transaction.hash for transaction in block.transactions)
    assert compact_block.missing(proposal, validator.mempool.get) == []
    rebuilt = compact_block.rebuild(proposal, _from(validator), validator.block_class, MAX_MESSAGE_BYTES)
    assert rebuilt == message.raw
    decoded = decode(rebuilt, CHAIN_ID)
    assert decoded.sender == message.sender and decoded.proposal.block == block_bytes


def test_a_missing_transaction_is_named_then_rebuilt_once_fetched(pair):
    proposer, validator = pair
    validator.send_raw_transaction(RAWS[0], local=False)  # the other two never reached it
    message, block_bytes, block = _signed_proposal(proposer)
    proposal = compact_block.parse(compact_block.compact(message.raw, block_bytes, block))
    lacking = compact_block.missing(proposal, validator.mempool.get)
    assert lacking == [block.transactions[1].hash, block.transactions[2].hash]
    with pytest.raises(CompactBlockInvalid, match="unavailable"):
        compact_block.rebuild(proposal, _from(validator), validator.block_class, MAX_MESSAGE_BYTES)
    # What the proposer's node serves for a transactions request (node/service.py held_transactions).
    served = [transaction_bytes(proposer.mempool.get(tx_hash)) for tx_hash in lacking]
    fetched = {compact_block.keccak_256(item).digest(): item for item in served}
    rebuilt = compact_block.rebuild(proposal, _from(validator, fetched), validator.block_class, MAX_MESSAGE_BYTES)
    assert rebuilt == message.raw


def test_a_forged_hash_list_is_refused_before_anything_reads_the_block(pair):
    proposer, validator = pair
    for raw in RAWS:
        validator.send_raw_transaction(raw, local=False)
    message, block_bytes, block = _signed_proposal(proposer)
    proposal = compact_block.parse(compact_block.compact(message.raw, block_bytes, block))
    reordered = compact_block.CompactProposal(proposal.before, proposal.after, proposal.fields,
                                              proposal.transactions_index, tuple(reversed(proposal.hashes)), {})
    with pytest.raises(CompactBlockInvalid, match="differs from the header"):
        compact_block.rebuild(reordered, _from(validator), validator.block_class, MAX_MESSAGE_BYTES)
    dropped = compact_block.CompactProposal(proposal.before, proposal.after, proposal.fields,
                                            proposal.transactions_index, proposal.hashes[:-1], {})
    with pytest.raises(CompactBlockInvalid, match="differs from the header"):
        compact_block.rebuild(dropped, _from(validator), validator.block_class, MAX_MESSAGE_BYTES)


def test_fresh_local_transactions_travel_in_full_and_cannot_stand_in_for_others(pair):
    proposer, validator = pair
    message, block_bytes, block = _signed_proposal(proposer)
    fresh = block.transactions[1].hash
    frame = compact_block.compact(message.raw, block_bytes, block, full={fresh})
    proposal = compact_block.parse(frame)
    assert list(proposal.included) == [fresh]
    assert compact_block.missing(proposal, validator.mempool.get) == [block.transactions[0].hash,
                                                                      block.transactions[2].hash]
    others = {tx_hash: transaction_bytes(proposer.mempool.get(tx_hash)) for tx_hash in proposal.hashes
              if tx_hash != fresh}
    assert compact_block.rebuild(proposal, others.get, validator.block_class, MAX_MESSAGE_BYTES) == message.raw
    # A transaction sent in full is filed under its own hash: it cannot fill another hash's place.
    forged = compact_block.CompactProposal(proposal.before, proposal.after, proposal.fields,
                                           proposal.transactions_index, proposal.hashes,
                                           {proposal.hashes[0]: RAWS[1]})
    with pytest.raises(CompactBlockInvalid, match="hashes otherwise"):
        compact_block.rebuild(forged, others.get, validator.block_class, MAX_MESSAGE_BYTES)


def test_a_fetched_transaction_must_hash_to_its_hash(pair):
    proposer, validator = pair
    message, block_bytes, block = _signed_proposal(proposer)
    proposal = compact_block.parse(compact_block.compact(message.raw, block_bytes, block))
    wrong = {tx_hash: RAWS[0] for tx_hash in proposal.hashes}  # a peer answering with other bytes
    with pytest.raises(CompactBlockInvalid, match="hashes otherwise"):
        compact_block.rebuild(proposal, wrong.get, validator.block_class, MAX_MESSAGE_BYTES)


@pytest.mark.parametrize("frame", [
    b"\x01", b"\x01\xc0", b"\x01" + rlp.encode([b"", b"", [], b"\x01", [b"short"]]),
    b"\x01" + rlp.encode([b"", b"", [[b""]], b"\x01", [], []]), b"\x01\xff\xff",
    b"\x01" + rlp.encode([b"", b"", [], b"\x01", []]), b"\x01" + rlp.encode([b"", b"", [], b"\x01", [], [b""]]),
])
def test_malformed_frames_are_refused_with_a_reason(frame):
    with pytest.raises(CompactBlockInvalid):
        compact_block.parse(frame)


def test_a_frame_rebuilding_past_the_message_limit_is_refused(pair):
    proposer, validator = pair
    for raw in RAWS:
        validator.send_raw_transaction(raw, local=False)
    message, block_bytes, block = _signed_proposal(proposer)
    proposal = compact_block.parse(compact_block.compact(message.raw, block_bytes, block))
    with pytest.raises(CompactBlockInvalid, match="exceeds"):
        compact_block.rebuild(proposal, _from(validator), validator.block_class, len(message.raw) - 100)


async def test_the_engine_sends_its_proposal_compact_and_a_peer_completes_it(tmp_path):
    """The wiring: an own proposal leaves compact; a receiver fetches what it lacks and gets the signed message."""
    import trio

    from consensus.messages import MessageKind
    from node.dev import dev_validator_keys
    from node.engine import ConsensusEngine
    from node.service import NodeSettings, consensus_config

    settings = NodeSettings(data_dir=tmp_path / "a", genesis=GENESIS, keys=dev_validator_keys(), signer=SIGNER)
    stores = [ChainStore(tmp_path / name, GENESIS) for name in ("a", "b")]
    try:
        proposer, receiver = (Backend(store, coinbase=b"\x00" * 20) for store in stores)
        network = RecordingNetwork()
        sender = ConsensusEngine(proposer, consensus_config(settings), network=network, empty_blocks=False)
        sender.compact_proposals = True
        completing = ConsensusEngine(receiver, consensus_config(settings), empty_blocks=False)
        asked: list[list[bytes]] = []

        async def fetch(peer: str, hashes: list[bytes], timeout: float) -> list[bytes]:
            asked.append(hashes)  # what the proposer's node serves: its transactions, as they hash
            served = {compact_block.keccak_256(raw).digest(): raw for raw in RAWS}
            return [served[tx_hash] for tx_hash in hashes]

        completing.fetch_transactions = fetch
        async with trio.open_nursery() as nursery:
            await nursery.start(sender.run)
            proposer.send_raw_transaction(RAWS[0])  # from the proposer's own client: travels in full
            for raw in RAWS[1:]:
                proposer.send_raw_transaction(raw, local=False)  # gossiped to it: only the hash travels
            sender.mine_now()
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        frames = [frame for frame in network.published if frame[:1] == compact_block.COMPACT_PREFIX]
        assert len(frames) == 1
        proposal = decode(await completing._complete_proposal(frames[0], "12D3KooWproposer"), CHAIN_ID)
        assert proposal.kind == MessageKind.PROPOSAL and proposal.block_hash == proposer.head.hash
        assert [len(hashes) for hashes in asked] == [2]  # only the two gossiped ones it lacked were fetched
        assert len(receiver.mempool) == 0
        hashes = list(compact_block.parse(frames[0]).hashes)
        assert len(proposer.mempool) == 0  # committed: a validator a step behind is still served from the block
        assert list(sender.held_transactions(hashes)) == hashes
        completing.fetch_transactions = None
        assert await completing._complete_proposal(frames[0], "12D3KooWproposer") is None  # cannot fetch: dropped

        async def unreachable(peer: str, hashes: list[bytes], timeout: float) -> list[bytes]:
            raise RuntimeError("peer is not connected")

        completing.fetch_transactions = unreachable
        completing.proposal_fetch_timeout = 0.3
        assert await completing._complete_proposal(frames[0], "12D3KooWproposer") is None  # nothing came in time

        async def late_gossip() -> None:
            await trio.sleep(0.1)
            for raw in RAWS:
                receiver.send_raw_transaction(raw, local=False)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(late_gossip)
            rebuilt = await completing._complete_proposal(frames[0], "12D3KooWproposer")
        assert rebuilt is not None and decode(rebuilt, CHAIN_ID).block_hash == proposer.head.hash
    finally:
        for store in stores:
            store.close()
