import pytest

from consensus.errors import InvalidJustification
from consensus.justification import (
    check_justification,
    plan_proposal,
    prepared_certificate_problem,
    round_change_problem,
)
from consensus.messages import Proposal, decode
from tests.consensus.helpers import block_hash, commit, prepare, round_change
from tests.consensus.simulation import CHAIN_ID, validator_set

VALIDATORS = validator_set(4)  # quorum 3
A, B = block_hash("a"), block_hash("b")
CERT_A_R1 = tuple(prepare(i, 5, 1, A).raw for i in (0, 1, 2))
CERT_B_R0 = tuple(prepare(i, 5, 0, B).raw for i in (1, 2, 3))


@pytest.mark.parametrize("prepares, reason", [
    (CERT_A_R1, None),
    (CERT_A_R1[:2], "2 prepares, quorum is 3"),
    (CERT_A_R1[:2] + CERT_A_R1[:1], "prepare 2 repeats signer"),
    (CERT_A_R1[:2] + (prepare(3, 5, 1, B).raw,), "prepare 2 is for height 5 round 1 block"),
    (CERT_A_R1[:2] + (prepare(3, 6, 1, A).raw,), "prepare 2 is for height 6"),
    (CERT_A_R1[:2] + (commit(3, 5, 1, A).raw,), "prepare 2 is a COMMIT"),
    (CERT_A_R1[:2] + (b"junk",), "prepare 2: not valid RLP"),
    (CERT_A_R1[:2] + (prepare(5, 5, 1, A).raw,), "prepare 2 is signed by 0x"),
])
def test_prepared_certificate(prepares, reason):
    problem = prepared_certificate_problem(VALIDATORS, CHAIN_ID, 5, 1, A, prepares)
    assert problem == reason if reason is None else problem.startswith(reason), problem


def test_round_change_problem():
    assert round_change_problem(VALIDATORS, CHAIN_ID, round_change(0, 5, 2)) is None
    assert round_change_problem(VALIDATORS, CHAIN_ID, round_change(0, 5, 2, 1, A, b"blk", CERT_A_R1)) is None
    assert round_change_problem(VALIDATORS, CHAIN_ID, round_change(0, 5, 2, 1, A, b"", CERT_A_R1)) == \
        "reports prepared round 1 but carries no block"
    assert round_change_problem(VALIDATORS, CHAIN_ID, round_change(0, 5, 2, 1, A, b"blk", CERT_A_R1[:2])) == \
        "prepared certificate: 2 prepares, quorum is 3"
    assert round_change_problem(VALIDATORS, CHAIN_ID, round_change(0, 5, 2, 0, A, b"blk", CERT_A_R1)).startswith(
        "prepared certificate: prepare 0 is for height 5 round 1")


def stripped(*messages):
    from consensus.messages import without_attachments
    return tuple(without_attachments(message).raw for message in messages)


PLAIN = stripped(*(round_change(i, 5, 2) for i in (0, 1, 3)))
WITH_A = stripped(round_change(0, 5, 2), round_change(1, 5, 2, 1, A, b"blk", CERT_A_R1),
                  round_change(3, 5, 2, 0, B, b"blk", CERT_B_R0))


@pytest.mark.parametrize("hash_, justification, reason", [
    (B, PLAIN, None),
    (A, WITH_A + CERT_A_R1, None),
    (B, WITH_A + CERT_B_R0, "proposes block"),
    (A, WITH_A + CERT_A_R1[:2], "prepared certificate for round 1: 2 prepares, quorum is 3"),
    (A, WITH_A, "prepared certificate for round 1: 0 prepares, quorum is 3"),
    (B, PLAIN[:2], "2 round changes for round 2, quorum is 3"),
    (B, PLAIN[:2] + PLAIN[:1], "justification[2] repeats round change signer"),
    (B, PLAIN + CERT_A_R1, "carries prepares but no round change reports a prepared round"),
    (B, PLAIN[:2] + stripped(round_change(3, 5, 3)), "justification[2] is a round change to round 3"),
    (B, PLAIN[:2] + stripped(round_change(3, 6, 2)), "justification[2] is for height 6"),
    (B, PLAIN[:2] + (commit(3, 5, 2, B).raw,), "justification[2] is a COMMIT"),
    (B, PLAIN[:2] + (b"\x01",), "justification[2]: expected an RLP list"),
    (B, PLAIN[:2] + stripped(round_change(5, 5, 2)), "justification[2] is signed by 0x"),
])
def test_check_justification(hash_, justification, reason):
    proposal = Proposal(5, 2, hash_, b"block", justification)
    if reason is None:
        round_changes = check_justification(VALIDATORS, CHAIN_ID, proposal)
        assert len(round_changes) == 3
    else:
        with pytest.raises(InvalidJustification) as error:
            check_justification(VALIDATORS, CHAIN_ID, proposal)
        assert error.value.reason.startswith(reason), error.value.reason


def test_plan_without_prepared_lets_the_proposer_build():
    round_changes = [round_change(i, 5, 2) for i in range(4)]
    plan = plan_proposal(VALIDATORS, round_changes)
    assert plan.prepared_block_hash is None and plan.prepared_block == b""
    assert len(plan.justification) == 3
    check_justification(VALIDATORS, CHAIN_ID, Proposal(5, 2, B, b"new", plan.justification))


def test_plan_re_proposes_the_highest_prepared_block_and_its_justification_checks():
    round_changes = [round_change(0, 5, 2), round_change(1, 5, 2, 0, B, b"block b", CERT_B_R0),
                     round_change(2, 5, 2), round_change(3, 5, 2, 1, A, b"block a", CERT_A_R1)]
    plan = plan_proposal(VALIDATORS, round_changes)
    assert (plan.prepared_block_hash, plan.prepared_block) == (A, b"block a")
    senders = [decode(raw, CHAIN_ID).sender for raw in plan.justification[:3]]
    assert senders[0] == VALIDATORS.validators[3].address
    assert all(decode(raw, CHAIN_ID).payload.prepared_block == b"" for raw in plan.justification[:3])
    assert plan.justification[3:] == CERT_A_R1
    check_justification(VALIDATORS, CHAIN_ID, Proposal(5, 2, A, b"block a", plan.justification))


def test_plan_takes_the_most_common_copy_of_the_prepared_block():
    round_changes = [round_change(0, 5, 2, 1, A, b"garbage", CERT_A_R1),
                     round_change(1, 5, 2, 1, A, b"block a", CERT_A_R1),
                     round_change(2, 5, 2, 1, A, b"block a", CERT_A_R1)]
    assert plan_proposal(VALIDATORS, round_changes).prepared_block == b"block a"


def test_plan_needs_a_quorum():
    with pytest.raises(ValueError):
        plan_proposal(VALIDATORS, [round_change(0, 5, 2)])
