import pytest

from consensus.messages import MessageKind
from consensus.votes import QUORUM, WEAK, VoteCollector
from tests.consensus.helpers import block_hash, commit, prepare, round_change
from tests.consensus.simulation import validator_set

A, B = block_hash("a"), block_hash("b")


def add_all(collector, messages):
    results = []
    for message in messages:
        collector, result = collector.add(message)
        results.append(result)
    return collector, results


@pytest.mark.parametrize("n", [1, 4, 7, 10])
def test_prepare_quorum_is_reported_once_on_the_vote_that_crosses_it(n):
    validators = validator_set(n)
    collector, results = add_all(VoteCollector(validators), [prepare(i, 3, 0, A) for i in range(n)])
    crossing = [index for index, result in enumerate(results) if result.thresholds]
    assert crossing == [validators.quorum - 1]
    (threshold,) = results[validators.quorum - 1].thresholds
    assert (threshold.height, threshold.round, threshold.kind, threshold.block_hash, threshold.level) == (
        3, 0, MessageKind.PREPARE, A, QUORUM)
    assert collector.count(3, 0, MessageKind.PREPARE, A) == n
    assert all(result.counted for result in results)


def test_round_change_reports_f_plus_one_then_quorum():
    validators = validator_set(7)  # f = 2, quorum = 5
    _, results = add_all(VoteCollector(validators), [round_change(i, 3, 2) for i in range(7)])
    levels = [[t.level for t in result.thresholds] for result in results]
    assert levels == [[], [], [WEAK], [], [QUORUM], [], []]


def test_round_changes_count_together_whatever_they_report():
    validators = validator_set(4)
    certificate = tuple(prepare(i, 3, 0, A).raw for i in range(3))
    messages = [round_change(0, 3, 1), round_change(1, 3, 1, 0, A, b"blk", certificate), round_change(2, 3, 1)]
    collector, results = add_all(VoteCollector(validators), messages)
    assert collector.count(3, 1, MessageKind.ROUND_CHANGE) == 3
    assert [t.level for t in results[2].thresholds] == [QUORUM]


def test_hashes_heights_rounds_and_kinds_are_counted_apart():
    validators = validator_set(4)
    messages = [prepare(0, 3, 0, A), prepare(1, 3, 0, B), prepare(2, 3, 1, A), prepare(3, 4, 0, A),
                commit(0, 3, 0, A)]
    collector, results = add_all(VoteCollector(validators), messages)
    assert all(result.counted and not result.thresholds for result in results)
    assert collector.count(3, 0, MessageKind.PREPARE, A) == 1
    assert collector.count(3, 0, MessageKind.PREPARE, B) == 1
    assert collector.count(3, 0, MessageKind.COMMIT, A) == 1


def test_one_vote_per_validator_duplicate_ignored_conflict_is_evidence():
    validators = validator_set(4)
    first = prepare(1, 3, 0, A)
    collector, _ = VoteCollector(validators).add(first)
    same, result = collector.add(prepare(1, 3, 0, A))
    assert same is collector and not result.counted and result.evidence is None
    conflicting = prepare(1, 3, 0, B)
    after, result = collector.add(conflicting)
    assert after is collector and not result.counted
    assert result.evidence.kind == MessageKind.PREPARE
    assert (result.evidence.first, result.evidence.second) == (first, conflicting)
    assert result.evidence.offender == first.sender
    assert collector.count(3, 0, MessageKind.PREPARE, B) == 0


def test_conflicting_round_changes_are_evidence():
    validators = validator_set(4)
    certificate = tuple(prepare(i, 3, 0, A).raw for i in range(3))
    collector, _ = VoteCollector(validators).add(round_change(2, 3, 1))
    _, result = collector.add(round_change(2, 3, 1, 0, A, b"blk", certificate))
    assert result.evidence is not None and result.evidence.kind == MessageKind.ROUND_CHANGE


def test_votes_of_non_validators_are_not_counted():
    collector = VoteCollector(validator_set(4))
    outsider = prepare(6, 3, 0, A)  # validator 6 exists only in the 7-set
    after, result = collector.add(outsider)
    assert after is collector and not result.counted


def test_votes_are_returned_in_validator_order_and_collector_is_not_mutated():
    validators = validator_set(4)
    empty = VoteCollector(validators)
    collector, _ = add_all(empty, [prepare(i, 3, 0, A) for i in (3, 0, 2)])
    assert [validators.index_of(v.sender) for v in collector.votes(3, 0, MessageKind.PREPARE, A)] == [0, 2, 3]
    assert empty.count(3, 0, MessageKind.PREPARE, A) == 0 and not empty.slots
    assert collector.vote_of(3, 0, MessageKind.PREPARE, validators.validators[2].address).payload.block_hash == A


def test_proposals_are_not_votes():
    from tests.consensus.helpers import proposal
    with pytest.raises(ValueError):
        VoteCollector(validator_set(4)).add(proposal(1, 3, 0, A, b"x"))
