"""The state machine's rules, driven message by message (n = 4: f = 1, quorum = 3).

At height 1 the proposer of round r is validator (1 + r) % 4.
"""

import copy

import pytest
from eth_hash.auto import keccak

from consensus import round_timeout_ms
from consensus.actions import (
    Broadcast,
    BuildBlock,
    CommitBlock,
    PersistSafety,
    ReportEvidence,
    RequestSync,
    ScheduleTimeout,
    ValidateBlock,
)
from consensus.certificate import verify_certificate
from consensus.errors import InvalidConfig, InvalidSafetyRecord
from consensus.events import BlockBuilt, BlockValidated, MessageReceived, NewHeight, TimeoutFired
from consensus.justification import check_justification
from consensus.machine import apply, initial_state
from consensus.messages import Commit, MessageKind, Prepare, Proposal, RoundChange, without_attachments
from consensus.safety import SafetyRecord
from consensus.state import (
    COMMITTED,
    DECIDED,
    MAX_FUTURE_MESSAGES_PER_SENDER,
    NEW_ROUND,
    PREPARED,
    PROPOSED,
    ConsensusConfig,
)
from tests.consensus.helpers import address, commit, prepare, proposal, round_change
from tests.consensus.simulation import CHAIN_ID, validator_keys, validator_set

BLOCK = b"block at height 1"
H = keccak(BLOCK)
OTHER_BLOCK = b"another block at height 1"
H2 = keccak(OTHER_BLOCK)


def config(index, n=4, **overrides):
    account_key, bls_key = validator_keys(index) if index is not None else (None, None)
    settings = dict(block_period_ms=100, round_timeout_ms=1000, max_round_timeout_ms=8000)
    settings.update(overrides)
    return ConsensusConfig(CHAIN_ID, validator_set(n), account_key, bls_key, **settings)


def start(index, height=1, n=4, safety=None):
    state, actions = apply(initial_state(config(index, n), height, safety), NewHeight(height))
    return state, actions


def feed(state, *events):
    actions = []
    for event in events:
        before = copy.deepcopy(state)
        state_after, new_actions = apply(state, event)
        assert state == before, "apply mutated its input state"
        state = state_after
        actions.extend(new_actions)
    assert_write_ahead(state, actions)
    return state, actions


def received(*messages):
    return [MessageReceived(message) for message in messages]


def sent(actions, kind=None):
    return [a.message for a in actions if isinstance(a, Broadcast) and (kind is None or a.message.kind == kind)]


def of_type(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


def assert_write_ahead(state, actions):
    """Every own message of the current height broadcast is in a safety record persisted earlier in
    the same list (relays of the previous height's COMMITs were persisted when first sent)."""
    persisted: set[bytes] = set()
    for action in actions:
        if isinstance(action, PersistSafety):
            persisted.update(SafetyRecord.decode(action.record).messages)
        elif (isinstance(action, Broadcast) and action.message.sender == state.config.address
              and action.message.height == state.height):
            assert action.message.raw in persisted, f"{action.message.kind.name} broadcast before PersistSafety"


def prepared_validator0():
    """Validator 0 at height 1 round 0, having validated and prepared validator 1's proposal."""
    state, _ = start(0)
    state, _ = feed(state, *received(proposal(1, 1, 0, H, BLOCK)), BlockValidated(1, 0, H, True))
    return state


def locked_validator0():
    state = prepared_validator0()
    state, _ = feed(state, *received(prepare(1, 1, 0, H), prepare(2, 1, 0, H)))
    return state


def test_start_of_height_arms_timers():
    _, proposer_actions = start(1)
    assert proposer_actions == [ScheduleTimeout(1, 0, "round", 1100), ScheduleTimeout(1, 0, "propose", 100)]
    _, actions = start(0)
    assert actions == [ScheduleTimeout(1, 0, "round", 1100)]
    _, observer_actions = start(None)
    assert observer_actions == []


def test_round_timeouts_double_up_to_the_cap():
    cfg = config(0)
    assert [round_timeout_ms(cfg, r) for r in range(6)] == [1100, 2000, 4000, 8000, 8000, 8000]
    assert round_timeout_ms(cfg, 10**6) == 8000


def test_proposer_builds_on_the_propose_timer_then_proposes_and_prepares():
    state, _ = start(1)
    state, actions = feed(state, TimeoutFired(1, 0, "propose"))
    assert actions == [BuildBlock(1, 0)]
    state, actions = feed(state, TimeoutFired(1, 0, "propose"))
    assert actions == [], "one BuildBlock per round"
    state, actions = feed(state, BlockBuilt(1, 0, H, BLOCK))
    assert [type(a).__name__ for a in actions] == ["PersistSafety", "Broadcast", "PersistSafety", "Broadcast"]
    (message,) = sent(actions, MessageKind.PROPOSAL)
    assert message.payload == Proposal(1, 0, H, BLOCK)
    assert sent(actions, MessageKind.PREPARE)[0].payload == Prepare(1, 0, H)
    assert state.step == PROPOSED


def test_non_proposers_ignore_the_propose_timer_and_stale_builds():
    state, _ = start(0)
    assert feed(state, TimeoutFired(1, 0, "propose"))[1] == []
    assert feed(state, BlockBuilt(1, 0, H, BLOCK))[1] == []


def test_prepare_only_after_the_node_validated_the_block():
    state, _ = start(0)
    state, actions = feed(state, *received(proposal(1, 1, 0, H, BLOCK)))
    assert actions == [ValidateBlock(1, 0, H, BLOCK)]
    assert state.step == PROPOSED
    rejected, actions = feed(state, BlockValidated(1, 0, H, False, "bad state root"))
    assert actions == [] and sent(actions) == []
    state, actions = feed(state, BlockValidated(1, 0, H, True))
    assert [m.payload for m in sent(actions)] == [Prepare(1, 0, H)]


def test_unsolicited_validation_results_are_ignored():
    state, _ = start(0)
    after, actions = feed(state, BlockValidated(1, 0, H, True))
    assert actions == [] and after == state


def test_proposal_from_a_non_proposer_is_ignored():
    state, _ = start(0)
    after, actions = feed(state, *received(proposal(2, 1, 0, H, BLOCK)))
    assert actions == [] and after == state


def test_second_different_proposal_is_evidence_and_ignored():
    state, _ = start(0)
    first = proposal(1, 1, 0, H, BLOCK)
    second = proposal(1, 1, 0, H2, OTHER_BLOCK)
    state, actions = feed(state, *received(first, second, first))
    assert of_type(actions, ValidateBlock) == [ValidateBlock(1, 0, H, BLOCK)]
    (evidence,) = of_type(actions, ReportEvidence)
    assert (evidence.evidence.kind, evidence.evidence.first, evidence.evidence.second) == (
        MessageKind.PROPOSAL, first, second)


def test_quorum_of_prepares_locks_and_commits_with_a_valid_seal():
    state = prepared_validator0()
    state, actions = feed(state, *received(prepare(1, 1, 0, H)))
    assert sent(actions) == []
    state, actions = feed(state, *received(prepare(2, 1, 0, H)))
    (message,) = sent(actions)
    assert isinstance(message.payload, Commit) and message.payload.block_hash == H
    from consensus.certificate import verify_seal
    assert verify_seal(validator_set(4).validators[0].bls_public_key, message.payload.seal, CHAIN_ID, 1, 0, H)
    assert state.step == PREPARED
    assert (state.locked.round, state.locked.block_hash, state.locked.block) == (0, H, BLOCK)
    assert len(state.locked.prepares) == 3
    record = SafetyRecord.decode(of_type(actions, PersistSafety)[0].record)
    assert record.lock == state.locked


def test_prepares_for_another_block_do_not_lock():
    state = prepared_validator0()
    state, actions = feed(state, *received(prepare(1, 1, 0, H2), prepare(2, 1, 0, H2), prepare(3, 1, 0, H2)))
    assert sent(actions) == [] and state.locked is None


def test_quorum_of_commits_commits_the_block_with_a_certificate():
    state = locked_validator0()
    state, actions = feed(state, *received(commit(1, 1, 0, H)))
    assert of_type(actions, CommitBlock) == []
    state, actions = feed(state, *received(commit(3, 1, 0, H)))
    (action,) = of_type(actions, CommitBlock)
    assert (action.height, action.block_hash, action.block) == (1, H, BLOCK)
    verify_certificate(action.certificate, validator_set(4), CHAIN_ID)
    assert action.certificate.signer_indices() == (0, 1, 3) and action.certificate.round == 0
    assert state.step == COMMITTED
    # Nothing more is signed at this height.
    for event in (TimeoutFired(1, 0, "round"), *received(round_change(1, 1, 1), round_change(2, 1, 1),
                                                          round_change(3, 1, 1))):
        state, actions = feed(state, event)
        assert sent(actions) == [] and of_type(actions, PersistSafety) == []


def test_commits_with_bad_seals_are_dropped_not_counted():
    state = locked_validator0()
    bad = commit(1, 1, 0, H, seal=commit(1, 1, 0, H2).payload.seal)
    state, actions = feed(state, *received(bad, commit(2, 1, 0, H, seal=b"\x01" * 96)))
    assert of_type(actions, CommitBlock) == []
    state, actions = feed(state, *received(commit(3, 1, 0, H)))
    assert of_type(actions, CommitBlock) == []
    state, actions = feed(state, *received(commit(2, 1, 0, H)))
    (action,) = of_type(actions, CommitBlock)
    assert action.certificate.signer_indices() == (0, 2, 3)


def test_commits_are_held_until_a_quorum_and_their_seals_checked_in_one_aggregate_check(monkeypatch):
    import consensus.certificate as certificate_module
    from tests.consensus.test_certificate import CountingScheme
    certificate_module._verify.cache_clear()
    scheme = CountingScheme()
    monkeypatch.setattr(certificate_module, "PopSchemeMPL", scheme)
    state = locked_validator0()
    state, actions = feed(state, *received(commit(1, 1, 0, H)))
    assert state.votes.count(1, 0, MessageKind.COMMIT, H) == 1  # our own; validator 1's waits, unchecked
    assert set(state.unchecked_commits[(0, H)]) == {address(1)}
    assert scheme.__dict__ == {"verify": 0, "fast_aggregate_verify": 0}
    state, actions = feed(state, *received(commit(3, 1, 0, H)))
    assert scheme.__dict__ == {"verify": 0, "fast_aggregate_verify": 1}
    (action,) = of_type(actions, CommitBlock)
    assert action.certificate.signer_indices() == (0, 1, 3) and state.unchecked_commits == {}
    # A COMMIT after the decision changes nothing and costs no seal check.
    state, actions = feed(state, *received(commit(2, 1, 0, H)))
    assert actions == [] and scheme.__dict__ == {"verify": 0, "fast_aggregate_verify": 1}
    verify_certificate(action.certificate, validator_set(4), CHAIN_ID)


def test_one_held_commit_per_sender_and_round():
    state = locked_validator0()
    state, _ = feed(state, *received(commit(1, 1, 0, H2), commit(1, 1, 0, H)))
    assert state.unchecked_commits == {(0, H2): {address(1): commit(1, 1, 0, H2)}}


def test_round_timer_sends_a_round_change_and_stale_timers_are_ignored():
    state, _ = start(0)
    state, actions = feed(state, TimeoutFired(1, 0, "round"))
    assert [type(a).__name__ for a in actions] == ["PersistSafety", "Broadcast", "ScheduleTimeout"]
    assert sent(actions)[0].payload == RoundChange(1, 1)
    assert actions[2] == ScheduleTimeout(1, 1, "round", 2000)
    assert (state.round, state.step) == (1, NEW_ROUND)
    for stale in (TimeoutFired(1, 0, "round"), TimeoutFired(0, 1, "round"), TimeoutFired(2, 1, "round")):
        after, actions = feed(state, stale)
        assert actions == [] and after == state
    state, actions = feed(state, TimeoutFired(1, 1, "round"))
    assert of_type(actions, ScheduleTimeout) == [ScheduleTimeout(1, 2, "round", 4000)]


def test_locked_validator_reports_its_lock_in_round_changes():
    state = locked_validator0()
    state, actions = feed(state, TimeoutFired(1, 0, "round"))
    payload = sent(actions)[0].payload
    assert (payload.round, payload.prepared_round, payload.prepared_block_hash, payload.prepared_block) == (
        1, 0, H, BLOCK)
    assert payload.prepared_certificate == state.locked.prepares


@pytest.mark.parametrize("rounds, joined", [((3,), []), ((3, 5), [3]), ((5, 5), [5]), ((2, 4, 6), [2, 4]),
                                            ((6, 4, 2), [4])])
def test_f_plus_one_round_changes_above_us_make_us_catch_up(rounds, joined):
    """Arriving one by one; we join the highest round that f+1 = 2 senders are at or above."""
    state, _ = start(0)
    # Up to three senders, one per round given.
    messages = [round_change(sender, 1, r) for sender, r in zip((1, 2, 3), rounds, strict=False)]
    state, actions = feed(state, *received(*messages))
    assert state.round == (joined[-1] if joined else 0)
    assert [m.payload for m in sent(actions)] == [RoundChange(1, r) for r in joined]


def test_round_changes_with_forged_certificates_are_not_counted():
    state, _ = start(0)
    forged_certificate = (prepare(2, 1, 0, H).raw,) * 3
    forged = round_change(2, 1, 3, 0, H, BLOCK, forged_certificate)
    state, actions = feed(state, *received(forged, round_change(3, 1, 3)))
    assert state.round == 0 and actions == []


def new_proposer_with_round_changes(lock_holder_round_change):
    """Validator 2 (proposer of round 1) after a quorum of ROUND-CHANGEs for round 1."""
    state, _ = start(2)
    state, _ = feed(state, TimeoutFired(1, 0, "round"))
    return feed(state, *received(lock_holder_round_change, round_change(3, 1, 1)))


def test_proposer_re_proposes_the_highest_prepared_block():
    lock = locked_validator0().locked
    rc = round_change(0, 1, 1, lock.round, lock.block_hash, lock.block, lock.prepares)
    state, actions = new_proposer_with_round_changes(rc)
    assert of_type(actions, BuildBlock) == []
    (message,) = sent(actions, MessageKind.PROPOSAL)
    assert (message.payload.round, message.payload.block_hash, message.payload.block) == (1, H, BLOCK)
    check_justification(validator_set(4), CHAIN_ID, message.payload)
    assert [m.payload for m in sent(actions, MessageKind.PREPARE)] == [Prepare(1, 1, H)]


def test_proposer_builds_when_nothing_was_prepared():
    state, actions = new_proposer_with_round_changes(round_change(0, 1, 1))
    assert of_type(actions, BuildBlock) == [BuildBlock(1, 1)]
    state, actions = feed(state, BlockBuilt(1, 1, H2, OTHER_BLOCK))
    (message,) = sent(actions, MessageKind.PROPOSAL)
    assert message.payload.block_hash == H2
    assert check_justification(validator_set(4), CHAIN_ID, message.payload)


def test_a_prepared_round_change_arriving_during_the_build_wins():
    state, actions = new_proposer_with_round_changes(round_change(0, 1, 1))
    lock = locked_validator0().locked
    state, _ = feed(state, *received(round_change(1, 1, 1, lock.round, lock.block_hash, lock.block, lock.prepares)))
    state, actions = feed(state, BlockBuilt(1, 1, H2, OTHER_BLOCK))
    (message,) = sent(actions, MessageKind.PROPOSAL)
    assert message.payload.block_hash == H


def round1_justification(with_lock):
    lock = locked_validator0().locked
    messages = [round_change(i, 1, 1) for i in (1, 3)]
    if with_lock:
        messages.append(round_change(0, 1, 1, lock.round, lock.block_hash, lock.block, lock.prepares))
        return tuple(without_attachments(m).raw for m in messages) + lock.prepares
    messages.append(round_change(0, 1, 1))
    return tuple(without_attachments(m).raw for m in messages)


@pytest.mark.parametrize("hash_, block, justification, accepted", [
    (H2, OTHER_BLOCK, round1_justification(with_lock=False), True),
    (H, BLOCK, round1_justification(with_lock=True), True),
    (H2, OTHER_BLOCK, round1_justification(with_lock=True), False),  # ignores the prepared block
    (H2, OTHER_BLOCK, round1_justification(with_lock=False)[:2], False),  # too few round changes
])
def test_round_one_proposals_must_be_justified(hash_, block, justification, accepted):
    state, _ = start(3)
    state, _ = feed(state, TimeoutFired(1, 0, "round"))
    state, actions = feed(state, *received(proposal(2, 1, 1, hash_, block, justification)))
    assert of_type(actions, ValidateBlock) == ([ValidateBlock(1, 1, hash_, block)] if accepted else [])


def test_a_justified_proposal_for_a_later_round_pulls_us_into_that_round():
    state, _ = start(3)
    state, actions = feed(state, *received(proposal(2, 1, 1, H2, OTHER_BLOCK, round1_justification(False))))
    assert state.round == 1
    assert [m.payload for m in sent(actions)] == [RoundChange(1, 1)]
    assert of_type(actions, ValidateBlock) == [ValidateBlock(1, 1, H2, OTHER_BLOCK)]


def test_future_height_messages_are_buffered_bounded_and_replayed():
    state, _ = start(0)
    later = prepare(1, 2, 0, H2)
    state, actions = feed(state, *received(later))
    assert actions == [] and state.future == (later,)
    flood = [round_change(2, 2, r) for r in range(1, MAX_FUTURE_MESSAGES_PER_SENDER + 10)]
    state, _ = feed(state, *received(*flood))
    kept = [m for m in state.future if m.sender == address(2)]
    assert len(kept) == MAX_FUTURE_MESSAGES_PER_SENDER and kept[-1] == flood[-1]
    state, _ = feed(state, NewHeight(2))
    assert state.height == 2 and state.future == ()
    from consensus.messages import MessageKind as K
    assert state.votes.count(2, 0, K.PREPARE, H2) == 1


def test_older_heights_are_ignored():
    state, _ = start(0, height=5)
    after, actions = feed(state, *received(prepare(1, 4, 0, H), proposal(1, 4, 0, H, BLOCK)))
    assert actions == [] and after == state


def test_sync_is_requested_when_f_plus_one_validators_are_two_heights_ahead():
    state, _ = start(0)
    state, actions = feed(state, *received(prepare(1, 3, 0, H)))
    assert of_type(actions, RequestSync) == []
    state, actions = feed(state, *received(prepare(2, 3, 0, H)))
    assert of_type(actions, RequestSync) == [RequestSync(2)]
    state, actions = feed(state, *received(prepare(3, 3, 0, H)))
    assert of_type(actions, RequestSync) == []


def test_one_height_ahead_requests_sync_only_when_our_round_times_out():
    state, _ = start(0)
    state, actions = feed(state, *received(prepare(1, 2, 0, H), prepare(2, 2, 0, H)))
    assert of_type(actions, RequestSync) == []
    state, actions = feed(state, TimeoutFired(1, 0, "round"))
    assert of_type(actions, RequestSync) == [RequestSync(1)]


def test_a_single_validator_ahead_triggers_sync_at_our_round_timeout():
    """It may be a crashed-and-restarted decider that can no longer relay; sync checks its claim."""
    state, _ = start(0)
    state, actions = feed(state, *received(round_change(3, 2, 1)))
    assert of_type(actions, RequestSync) == []
    state, actions = feed(state, TimeoutFired(1, 0, "round"))
    assert of_type(actions, RequestSync) == [RequestSync(1)]


def test_quorum_of_commits_without_the_block_requests_it():
    state, _ = start(0)
    state, actions = feed(state, *received(commit(1, 1, 0, H), commit(2, 1, 0, H), commit(3, 1, 0, H)))
    assert of_type(actions, RequestSync) == [RequestSync(1)]
    assert state.step == DECIDED
    state, actions = feed(state, *received(proposal(1, 1, 0, H, BLOCK)))
    assert of_type(actions, ValidateBlock) == [ValidateBlock(1, 0, H, BLOCK)]
    assert sent(actions) == [], "a decided validator signs nothing more at this height"
    state, actions = feed(state, BlockValidated(1, 0, H, True))
    (action,) = of_type(actions, CommitBlock)
    assert action.certificate.signer_indices() == (1, 2, 3)


def test_decision_is_relayed_to_a_validator_stuck_at_our_previous_height():
    state = locked_validator0()
    state, _ = feed(state, *received(commit(1, 1, 0, H), commit(2, 1, 0, H)))
    state, _ = feed(state, NewHeight(2))
    state, actions = feed(state, *received(round_change(3, 1, 1)))
    relayed = sent(actions)
    assert [m.kind for m in relayed] == [MessageKind.COMMIT] * 3 and {m.payload.block_hash for m in relayed} == {H}
    state, actions = feed(state, *received(round_change(3, 1, 1)))
    assert actions == [], "once per sender and round"
    state, actions = feed(state, *received(round_change(3, 1, 2)))
    assert len(sent(actions)) == 3


def test_restart_re_sends_the_same_vote_and_never_a_conflicting_one():
    state, _ = start(0)
    state, actions = feed(state, *received(proposal(1, 1, 0, H, BLOCK)), BlockValidated(1, 0, H, True))
    record = of_type(actions, PersistSafety)[-1].record
    (prepare_sent,) = sent(actions)
    restarted, actions = start(0, safety=record)
    assert sent(actions) == [prepare_sent]
    assert ScheduleTimeout(1, 0, "round", 1100) in actions
    assert (restarted.round, restarted.step) == (0, PROPOSED)
    # The proposer equivocates after our restart: we must not prepare its other block.
    restarted, actions = feed(restarted, *received(proposal(1, 1, 0, H2, OTHER_BLOCK)),
                              BlockValidated(1, 0, H2, True))
    assert sent(actions, MessageKind.PREPARE) == []
    # The restored proposal still lets us lock and commit on the block we prepared.
    restarted, actions = feed(restarted, *received(prepare(1, 1, 0, H), prepare(2, 1, 0, H)))
    assert [m.payload.block_hash for m in sent(actions, MessageKind.COMMIT)] == [H]


def test_restart_after_locking_keeps_the_lock_across_round_changes():
    state = locked_validator0()
    state, actions = feed(state, TimeoutFired(1, 0, "round"))
    record = of_type(actions, PersistSafety)[-1].record
    restarted, actions = start(0, safety=record)
    assert restarted.round == 1 and restarted.locked == state.locked
    assert [m.payload.round for m in sent(actions)] == [1]
    restarted, actions = feed(restarted, TimeoutFired(1, 1, "round"))
    assert sent(actions)[0].payload.prepared_block_hash == H


def test_restarted_proposer_re_sends_its_proposal_instead_of_building_another():
    state, _ = start(1)
    state, _ = feed(state, TimeoutFired(1, 0, "propose"))
    state, actions = feed(state, BlockBuilt(1, 0, H, BLOCK))
    record = of_type(actions, PersistSafety)[0].record  # crashed before its PREPARE was persisted
    restarted, actions = start(1, safety=record)
    assert [m.payload.block_hash for m in sent(actions, MessageKind.PROPOSAL)] == [H]
    assert ScheduleTimeout(1, 0, "propose", 100) not in actions
    assert [m.payload for m in sent(actions, MessageKind.PREPARE)] == [Prepare(1, 0, H)]


def test_safety_records_of_other_heights():
    state, _ = start(0)
    state, actions = feed(state, TimeoutFired(1, 0, "round"))
    record = of_type(actions, PersistSafety)[-1].record
    newer_chain, actions = start(0, height=2, safety=record)
    assert newer_chain.round == 0 and newer_chain.can_sign
    older_chain = initial_state(config(0), 0, record)
    assert not older_chain.can_sign, "a record newer than the chain: do not sign below and at its height"
    with pytest.raises(InvalidSafetyRecord):
        initial_state(config(0), 1, b"\x01garbage")


def test_records_with_foreign_votes_are_refused():
    foreign = SafetyRecord(1, 0, None, (prepare(2, 1, 0, H).raw,)).encode()
    with pytest.raises(InvalidSafetyRecord, match="PREPARE from another validator"):
        initial_state(config(0), 1, foreign)
    wrong_round = SafetyRecord(1, 1, None, (prepare(0, 1, 0, H).raw,)).encode()
    with pytest.raises(InvalidSafetyRecord, match="is for height 1 round 0"):
        initial_state(config(0), 1, wrong_round)


def test_observer_follows_certificates_and_never_signs():
    state, actions = start(None)
    events = [*received(proposal(1, 1, 0, H, BLOCK), prepare(1, 1, 0, H), prepare(2, 1, 0, H), prepare(3, 1, 0, H),
                        commit(1, 1, 0, H), commit(2, 1, 0, H), commit(3, 1, 0, H)),
              TimeoutFired(1, 0, "round"), TimeoutFired(1, 0, "propose")]
    state, actions = feed(state, *events)
    assert sent(actions) == [] and of_type(actions, PersistSafety) == []
    assert actions == [ValidateBlock(1, 0, H, BLOCK)]
    state, actions = feed(state, BlockValidated(1, 0, H, True))
    (action,) = of_type(actions, CommitBlock)
    verify_certificate(action.certificate, validator_set(4), CHAIN_ID)


def test_a_single_validator_commits_alone():
    state, actions = start(0, n=1)
    assert ScheduleTimeout(1, 0, "propose", 100) in actions  # proposer of every round: (1 + r) % 1 == 0
    state, actions = feed(state, TimeoutFired(1, 0, "propose"), BlockBuilt(1, 0, H, BLOCK))
    assert [m.kind for m in sent(actions)] == [MessageKind.PROPOSAL, MessageKind.PREPARE, MessageKind.COMMIT]
    (action,) = of_type(actions, CommitBlock)
    verify_certificate(action.certificate, validator_set(1), CHAIN_ID)
    state, actions = feed(state, NewHeight(2))
    assert ScheduleTimeout(2, 0, "propose", 100) in actions


def test_messages_from_non_validators_are_ignored():
    state, _ = start(0)
    outsider = [prepare(5, 1, 0, H), commit(5, 1, 0, H), round_change(5, 1, 4), round_change(6, 1, 4)]
    after, actions = feed(state, *received(*outsider))
    assert actions == [] and after == state


def test_new_height_can_bring_a_new_validator_set():
    state, _ = start(0)
    state, _ = feed(state, NewHeight(2, validator_set(7)))
    assert state.config.validator_set.n == 7 and state.votes.validator_set.n == 7
    state, actions = feed(state, *received(prepare(6, 2, 0, H)))
    assert state.votes.count(2, 0, MessageKind.PREPARE, H) == 1


@pytest.mark.parametrize("kwargs, reason", [
    (dict(private_key=b"\x01" * 32, bls_private_key=None), "give both private_key and bls_private_key"),
    (dict(private_key=validator_keys(0)[0], bls_private_key=validator_keys(1)[1]),
     "BLS key does not match the registered key of validator 0"),
    (dict(private_key=b"\x01" * 31, bls_private_key=b"\x01" * 32), "private_key and bls_private_key must be 32"),
    (dict(round_timeout_ms=0), "timeouts must satisfy"),
    (dict(round_timeout_ms=5000, max_round_timeout_ms=1000), "timeouts must satisfy"),
])
def test_inconsistent_configs_are_refused(kwargs, reason):
    with pytest.raises(InvalidConfig) as error:
        ConsensusConfig(CHAIN_ID, validator_set(4), **kwargs)
    assert error.value.reason.startswith(reason), error.value.reason


def test_a_key_outside_the_set_only_follows():
    outsider = ConsensusConfig(CHAIN_ID, validator_set(4), *validator_keys(5))
    assert not outsider.is_validator
    state, actions = apply(initial_state(outsider, 1), NewHeight(1))
    assert actions == [] and not state.can_sign


def test_events_of_unknown_type_are_refused():
    state, _ = start(0)
    with pytest.raises(TypeError):
        apply(state, object())


def test_votes_for_far_rounds_are_not_stored_but_far_round_changes_still_catch_up():
    from consensus.state import MAX_ROUNDS_AHEAD
    state, _ = start(0)
    far = MAX_ROUNDS_AHEAD + 1
    spam = [prepare(3, 1, r, H) for r in range(far, far + 50)] + [commit(3, 1, far, H)]
    state, actions = feed(state, *received(*spam))
    assert actions == [] and not state.votes.slots
    state, actions = feed(state, *received(round_change(2, 1, far + 5)))
    assert state.round == 0 and not state.votes.slots
    state, actions = feed(state, *received(round_change(3, 1, far + 9)))
    assert state.round == far + 5
    assert [m.payload for m in sent(actions)] == [RoundChange(1, far + 5)]
