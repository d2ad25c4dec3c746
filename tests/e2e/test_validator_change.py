"""Live validator changes by on-chain vote: 4 validators vote in a 5th, then vote one out, with no restart."""
from __future__ import annotations

import dataclasses
import re

import pytest

from consensus.certificate import CommitCertificate, verify_certificate
from consensus.validators import Validator, ValidatorSet, quorum_size
from genesis.loader import write_genesis
from tests.e2e.network import Network, ValidatorProcess
from tests.e2e.node_process import spawn_settle, wait_for_ready, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def network(tmp_path):
    """Five testnet nodes, of which the genesis names the first four; node 4 is left out of their bootstrap."""
    net = Network(tmp_path / "net", validators=5, block_period_ms=300)
    genesis = net.layout.genesis
    write_genesis(dataclasses.replace(genesis, validators=genesis.validators[:4]), net.layout.genesis_path)
    newcomer_peer = genesis.validators[4].peer_id
    for node in net.layout.nodes[:4]:
        text = node.config_path.read_text()
        text = re.sub(r'"[^"]*/p2p/' + newcomer_peer + r'",? ?', "", text)
        node.config_path.write_text(text.replace(", ]", "]"))
    yield net
    net.stop_all()


def _set_of(net: Network, addresses: list[str]) -> ValidatorSet:
    by_address = {"0x" + v.address.hex(): v for v in
                  [*net.layout.genesis.validators]}
    return ValidatorSet(tuple(
        Validator(by_address[a.lower()].address, by_address[a.lower()].bls_public_key,
                  by_address[a.lower()].bls_proof_of_possession) for a in addresses))


def _check_certificates(net: Network, node: ValidatorProcess, top: int) -> dict[int, int]:
    """Every certificate up to ``top`` verifies against its own height's set; returns height -> set size."""
    sizes = {}
    for number in range(1, top + 1):
        addresses = node.call("bft_getValidatorsByBlockNumber", [hex(number)])
        validators = _set_of(net, addresses)
        certificate = node.call("bft_getCertificate", [hex(number)])
        decoded = CommitCertificate.decode(bytes.fromhex(certificate["raw"][2:]))
        verify_certificate(decoded, validators, net.chain_id)
        assert certificate["quorum"] == validators.quorum
        sizes[number] = validators.n
    return sizes


def test_vote_in_a_fifth_validator_then_vote_one_out(network):
    net = network
    first_four, newcomer = net.nodes[:4], net.nodes[4]
    for node in first_four:
        node.start(wait=False)
    for node in first_four:
        wait_for_ready(node.process, node.url, 60)
    net.wait_for_height(2, first_four)
    a = first_four[0]
    assert a.call("bft_status")["validators"] == 4

    entry = net.layout.genesis.validators[4]
    # Load: transfers keep flowing through the changes.
    sent = [net.transfer(a, 1, i) for i in range(3)]
    # Proposal by validator 0 (its vote counts), then validators 1 and 2: the third vote passes (3 > 4/2).
    net.governance(a, 0, 0, "proposeAddValidator(address,bytes,bytes,string)",
                ["address", "bytes", "bytes", "string"],
                [entry.address, entry.bls_public_key, entry.bls_proof_of_possession, entry.peer_id])
    net.governance(first_four[1], 1, 0, "vote(uint256)", ["uint256"], [1])
    decided = int(net.governance(first_four[2], 2, 0, "vote(uint256)", ["uint256"], [1]), 16)
    assert len(a.call("bft_getValidatorsByBlockNumber", [hex(decided)])) == 4
    net.wait_for_height(decided + 1, first_four)
    assert len(a.call("bft_getValidatorsByBlockNumber", [hex(decided + 1)])) == 5

    # The fifth node starts (it was never in the genesis) and joins without anyone restarting.
    newcomer.process = spawn_settle(["node", "run", "--joining", "--config", str(newcomer.node.config_path)],
                                    newcomer.log_path)
    wait_for_ready(newcomer.process, newcomer.url, 60)
    wait_until(lambda: newcomer.height() >= decided + 3, 90, lambda: "the fifth node did not catch up\n"
               + newcomer.log()[-3000:])
    status = newcomer.call("bft_status")
    assert status["validators"] == 5 and status["quorum"] == quorum_size(5) == 4

    def newcomer_signed() -> bool:
        head = newcomer.height()
        certificate = a.call("bft_getCertificate", [hex(min(head, a.height()))])
        return "0x" + entry.address.hex() in [s.lower() for s in certificate["signers"]]

    wait_until(newcomer_signed, 90, lambda: "the fifth validator never sealed a block\n" + newcomer.log()[-3000:])
    for tx_hash in sent:
        assert net.wait_for_receipt(newcomer, tx_hash)["status"] == "0x1"

    # Vote validator 3 out: 3 votes of 5 pass it.
    removed = net.layout.genesis.validators[3]
    net.governance(a, 0, 1, "proposeRemoveValidator(address)", ["address"], [removed.address])
    net.governance(first_four[1], 1, 1, "vote(uint256)", ["uint256"], [2])
    out_height = int(net.governance(newcomer, 4, 0, "vote(uint256)", ["uint256"], [2]), 16)
    net.wait_for_height(out_height + 3, [a, first_four[1], first_four[2], newcomer])
    after = a.call("bft_getValidatorsByBlockNumber", [hex(out_height + 1)])
    assert "0x" + removed.address.hex() not in [x.lower() for x in after] and len(after) == 4
    # Its peers dropped it.
    wait_until(lambda: "peer allow-list changed" in a.log() and a.call("net_peerCount") == "0x3", 30,
               lambda: f"peers: {a.call('net_peerCount')}\n" + a.log()[-3000:])

    # No height skipped or forked; every certificate verifies against its own height's set.
    top = min(node.height() for node in (a, first_four[1], first_four[2], newcomer))
    for number in range(1, top + 1):
        hashes = {node.call("eth_getBlockByNumber", [hex(number), False])["hash"]
                  for node in (a, first_four[1], first_four[2], newcomer)}
        assert len(hashes) == 1, number
    sizes = _check_certificates(net, newcomer, top)
    assert sizes[decided] == 4 and sizes[decided + 1] == 5 and sizes[out_height] == 5 and sizes[out_height + 1] == 4
