"""The QBFT state machine: ``apply(state, event) -> (state, actions)``, pure and deterministic.

Follows "The QBFT Blockchain Consensus Protocol" (Saltini, Hyland-Wood) and IBFT 2.0. Each rule
below names the QBFT upon-rule it implements:

* start of height (QBFT ``Start``): round 0; the proposer builds after the block period; every
  validator arms the round timer.
* ``upon PROPOSAL`` (JustifyPrePrepare): from the round's proposer, justified for round > 0, the
  first one of the round; the node validates the block, then the validator PREPAREs.
* ``upon quorum PREPARE``: lock (prepared round, block, certificate) and COMMIT with a BLS seal.
* ``upon quorum COMMIT`` (any round of this height): aggregate the seals, CommitBlock.
* ``upon round timer expiry``: move to round + 1 and send ROUND-CHANGE carrying the lock.
* ``upon f+1 ROUND-CHANGE above our round``: jump to the round f+1 of them reached.
* ``upon quorum ROUND-CHANGE`` as the round's proposer: re-propose the highest prepared block,
  or build a new one, with the justification.

Every vote or lock change is preceded by PersistSafety in the action list (write-ahead), and a
validator never signs two different messages of one kind in one round, even across restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from consensus.actions import (
    Action,
    Broadcast,
    BuildBlock,
    CommitBlock,
    PersistSafety,
    ReportEvidence,
    RequestSync,
    ScheduleTimeout,
    ValidateBlock,
)
from consensus.certificate import aggregate, sign_seal, valid_seals
from consensus.errors import InvalidJustification, InvalidMessage, InvalidSafetyRecord
from consensus.events import BlockBuilt, BlockValidated, Event, MessageReceived, NewHeight, TimeoutFired
from consensus.justification import check_justification, plan_proposal, round_change_problem
from consensus.messages import Commit, MessageKind, Prepare, Proposal, RoundChange, SignedMessage, decode, sign
from consensus.safety import Lock, SafetyRecord
from consensus.state import (
    COMMITTED,
    DECIDED,
    MAX_FUTURE_HEIGHTS,
    MAX_FUTURE_MESSAGES_PER_SENDER,
    MAX_ROUNDS_AHEAD,
    NEW_ROUND,
    PREPARED,
    PROPOSED,
    ConsensusConfig,
    ConsensusState,
)
from consensus.votes import QUORUM, Evidence, VoteCollector

Actions = list[Action]


def round_timeout_ms(config: ConsensusConfig, round: int) -> int:
    """Round 0: block period + base timeout; round r >= 1: min(base * 2**r, cap).

    Doubling lets the timeout outgrow any unknown message delay after GST (partial synchrony).
    """
    if round == 0:
        return config.block_period_ms + config.round_timeout_ms
    return min(config.round_timeout_ms << min(round, 64), config.max_round_timeout_ms)


def initial_state(config: ConsensusConfig, height: int, safety: bytes | None = None) -> ConsensusState:
    """The state of a node whose chain ends at height-1, restoring ``safety`` if it is for ``height``.

    Feed ``NewHeight(height)`` next to start. A record for a lower height is stale and ignored; a
    record for a higher height means the chain is older than the validator's votes, so the machine
    does not sign below and at that height (it follows certificates there). A corrupt record raises
    InvalidSafetyRecord: starting blind could make the validator equivocate.
    """
    state = ConsensusState(config=config, height=height, votes=VoteCollector(config.validator_set))
    if safety is None:
        return state
    record = SafetyRecord.decode(safety)
    if record.height < height:
        return state
    if record.height > height:
        return replace(state, sign_from_height=record.height + 1)
    if not config.is_validator:
        return replace(state, sign_from_height=record.height + 1)
    messages = []
    for index, raw in enumerate(record.messages):
        try:
            message = decode(raw, config.chain_id)
        except InvalidMessage as error:
            raise InvalidSafetyRecord(f"message {index}: {error.reason}") from None
        if (message.height, message.round) != (record.height, record.round):
            raise InvalidSafetyRecord(f"message {index} is for height {message.height} round {message.round}, "
                                      f"record is for height {record.height} round {record.round}")
        if message.sender != config.address and message.kind != MessageKind.PROPOSAL:
            raise InvalidSafetyRecord(f"message {index} is a {message.kind.name} from another validator")
        messages.append(message)
    sent = tuple(message for message in messages if message.sender == config.address)
    proposals = {message.round: message for message in messages if message.kind == MessageKind.PROPOSAL}
    valid_blocks = {message.block_hash: message.proposal.block for message in proposals.values()}
    if record.lock is not None:
        valid_blocks[record.lock.block_hash] = record.lock.block
    kinds = {message.kind for message in sent}
    step = PREPARED if MessageKind.COMMIT in kinds else PROPOSED if MessageKind.PREPARE in kinds else NEW_ROUND
    state = replace(state, round=record.round, step=step, locked=record.lock, sent=sent, proposals=proposals,
                    valid_blocks=valid_blocks)
    for message in sent:
        if message.kind != MessageKind.PROPOSAL:
            state = _count_vote(state, message, [])
    return state


def apply(state: ConsensusState, event: Event) -> tuple[ConsensusState, Actions]:
    """Handle one event. Never mutates ``state``; the actions are to be carried out in order."""
    actions: Actions = []
    if isinstance(event, NewHeight):
        state = _on_new_height(state, event, actions)
    elif isinstance(event, MessageReceived):
        state = _on_message(state, event.message, actions)
    elif isinstance(event, TimeoutFired):
        state = _on_timeout(state, event, actions)
    elif isinstance(event, BlockBuilt):
        state = _on_block_built(state, event, actions)
    elif isinstance(event, BlockValidated):
        state = _on_block_validated(state, event, actions)
    else:
        raise TypeError(f"not a consensus event: {type(event).__name__}")
    if state.started:
        state = _advance(state, actions)
    return state, actions


# --- events -------------------------------------------------------------------------------------


def _on_new_height(state: ConsensusState, event: NewHeight, actions: Actions) -> ConsensusState:
    config = state.config if event.validator_set is None else replace(state.config, validator_set=event.validator_set)
    if event.height == state.height and not state.started:
        if config is not state.config:
            state = replace(state, config=config, votes=VoteCollector(config.validator_set, state.votes.slots,
                                                                      state.votes.reported))
        return _start(state, actions)
    if event.height <= state.height:
        return state
    previous_decision: tuple[SignedMessage, ...] = ()
    if state.decision is not None and state.height == event.height - 1:
        round, block_hash = state.decision
        previous_decision = state.votes.votes(state.height, round, MessageKind.COMMIT, block_hash)
    fresh = ConsensusState(
        config=config, height=event.height, votes=VoteCollector(config.validator_set),
        future=tuple(message for message in state.future if message.height >= event.height),
        higher_heights={sender: height for sender, height in state.higher_heights.items() if height > event.height},
        sync_requested=state.sync_requested, previous_decision=previous_decision,
        sign_from_height=state.sign_from_height)
    return _start(fresh, actions)


def _start(state: ConsensusState, actions: Actions) -> ConsensusState:
    """QBFT Start: arm timers, re-send what a restarted validator had sent, replay buffered messages."""
    state = replace(state, started=True)
    config, height, round = state.config, state.height, state.round
    if state.can_sign:
        actions.extend(Broadcast(message) for message in state.sent)
        actions.append(ScheduleTimeout(height, round, "round", round_timeout_ms(config, round)))
        if round == 0 and _is_proposer(state) and _own(state, MessageKind.PROPOSAL) is None:
            actions.append(ScheduleTimeout(height, 0, "propose", config.block_period_ms))
    buffered = [message for message in state.future if message.height == height]
    state = replace(state, future=tuple(message for message in state.future if message.height > height))
    for message in buffered:
        state = _on_message(state, message, actions)
    return state


def _on_message(state: ConsensusState, message: SignedMessage, actions: Actions) -> ConsensusState:
    if message.height > state.height or (message.height == state.height and not state.started):
        return _buffer(state, message, actions)
    if message.height < state.height:
        return _maybe_relay_decision(state, message, actions)
    if not state.config.validator_set.contains(message.sender):
        return state
    if message.kind == MessageKind.PROPOSAL:
        return _on_proposal(state, message, actions)
    if message.kind == MessageKind.ROUND_CHANGE:
        problem = round_change_problem(state.config.validator_set, state.config.chain_id, message)
        if problem is not None:
            return state
    if message.round > state.round + MAX_ROUNDS_AHEAD:
        known_round = state.round_change_rounds.get(message.sender, -1)
        if message.kind == MessageKind.ROUND_CHANGE and message.round > known_round:
            return replace(state, round_change_rounds={**state.round_change_rounds, message.sender: message.round})
        return state
    if message.kind == MessageKind.COMMIT:
        previous = state.votes.vote_of(message.height, message.round, MessageKind.COMMIT, message.sender)
        if previous is None:  # its seal is checked, with the others', once they could make a quorum
            return _check_commits(_hold_commit(state, message), message.round, message.block_hash, actions)
    return _count_vote(state, message, actions)


def _on_proposal(state: ConsensusState, message: SignedMessage, actions: Actions) -> ConsensusState:
    """Keep the first justified proposal of each round from that round's proposer (used when the
    validator is in that round, and as a source of the decided block)."""
    proposal = message.payload
    assert isinstance(proposal, Proposal)
    if message.sender != state.config.validator_set.proposer(proposal.height, proposal.round).address:
        return state
    existing = state.proposals.get(proposal.round)
    if existing is not None:
        if existing.block_hash != proposal.block_hash:
            actions.append(ReportEvidence(Evidence(MessageKind.PROPOSAL, existing, message)))
        return state
    round_change_rounds = state.round_change_rounds
    if proposal.round > 0:
        try:
            round_changes = check_justification(state.config.validator_set, state.config.chain_id, proposal)
        except InvalidJustification:
            return state
        # The justification proves a quorum moved to this round: count them for the f+1 catch-up.
        round_change_rounds = dict(round_change_rounds)
        for round_change in round_changes:
            round_change_rounds[round_change.sender] = max(
                round_change.round, round_change_rounds.get(round_change.sender, -1)
            )
    return replace(
        state, proposals={**state.proposals, proposal.round: message}, round_change_rounds=round_change_rounds
    )


def _on_timeout(state: ConsensusState, event: TimeoutFired, actions: Actions) -> ConsensusState:
    if event.height != state.height or not state.started or not state.can_sign:
        return state
    if event.kind == "propose":
        if (
            event.round == 0 == state.round
            and state.step == NEW_ROUND
            and _is_proposer(state)
            and state.building_round is None
            and _own(state, MessageKind.PROPOSAL) is None
        ):
            actions.append(BuildBlock(state.height, 0))
            return replace(state, building_round=0)
        return state
    if event.round != state.round or state.step == COMMITTED:
        return state
    if state.step == DECIDED:
        # Decided but the block is still missing: ask for it again and keep a retry timer.
        actions.append(RequestSync(state.height))
        actions.append(ScheduleTimeout(state.height, state.round, "round", round_timeout_ms(state.config, state.round)))
        return state
    # Stuck in this round while some validator is at a later height: fetch what it finished. One
    # claim is enough here (sync verifies every certificate, a false claim costs one fetch per
    # timeout), and a crashed validator that decided cannot relay its COMMITs to us any more.
    if state.higher_heights:
        target = max(state.higher_heights.values()) - 1
        actions.append(RequestSync(target))
        state = replace(state, sync_requested=max(target, state.sync_requested))
    return _enter_round(state, state.round + 1, actions)


def _on_block_built(state: ConsensusState, event: BlockBuilt, actions: Actions) -> ConsensusState:
    if (
        (event.height, event.round) != (state.height, state.round)
        or state.building_round != event.round
        or state.step != NEW_ROUND
        or not state.can_sign
        or _own(state, MessageKind.PROPOSAL) is not None
    ):
        return state
    if event.round == 0:
        return _propose(state, event.block_hash, event.block, (), actions)
    round_changes = state.votes.votes(state.height, state.round, MessageKind.ROUND_CHANGE)
    plan = plan_proposal(state.config.validator_set, round_changes)
    if plan.prepared_block_hash is not None:
        # A prepared ROUND-CHANGE arrived while the block was being built: it must win.
        return _repropose(state, plan.prepared_block_hash, plan.prepared_block, plan.justification, actions)
    return _propose(state, event.block_hash, event.block, plan.justification, actions)


def _on_block_validated(state: ConsensusState, event: BlockValidated, actions: Actions) -> ConsensusState:
    key = (event.round, event.block_hash)
    if event.height != state.height or key not in state.validating:
        return state
    block = state.validating[key]
    validating = {other: value for other, value in state.validating.items() if other != key}
    if event.valid:
        return replace(state, validating=validating, valid_blocks={**state.valid_blocks, event.block_hash: block})
    return replace(state, validating=validating, rejected_blocks=state.rejected_blocks | {block})


# --- rules, applied until nothing changes -------------------------------------------------------


def _advance(state: ConsensusState, actions: Actions) -> ConsensusState:
    while True:
        before = state
        for rule in _RULES:
            state = rule(state, actions)
        if state is before:
            return state


def _decide(state: ConsensusState, actions: Actions) -> ConsensusState:
    """upon quorum COMMIT: commit once the node has validated the block; fetch it if unknown."""
    if state.decision is None or state.step == COMMITTED:
        return state
    round, block_hash = state.decision
    if state.step != DECIDED:
        state = replace(state, step=DECIDED)
    block = state.valid_blocks.get(block_hash)
    if block is not None:
        validator_set = state.config.validator_set
        # Every counted COMMIT, not the first quorum of them: seals are accepted a batch at a time, and
        # only a whole batch is known to sum to a valid aggregate (certificate.valid_seals).
        commits = state.votes.votes(state.height, round, MessageKind.COMMIT, block_hash)
        seals = {validator_set.position(commit.sender): commit.commit.seal for commit in commits}
        certificate = aggregate(validator_set, seals, state.height, round, block_hash)
        actions.append(CommitBlock(state.height, block_hash, block, certificate))
        return replace(state, step=COMMITTED)
    if any(key[1] == block_hash for key in state.validating):
        return state
    candidate = _find_block(state, block_hash)
    if candidate is not None:
        actions.append(ValidateBlock(state.height, round, block_hash, candidate))
        return replace(state, validating={**state.validating, (round, block_hash): candidate})
    if state.sync_requested < state.height:
        actions.append(RequestSync(state.height))
        return replace(state, sync_requested=state.height)
    return state


def _catch_up(state: ConsensusState, actions: Actions) -> ConsensusState:
    """upon f+1 ROUND-CHANGE for rounds above ours: at least one honest validator is there; join
    the highest round that f+1 of them reached."""
    if not state.can_sign or state.step in (DECIDED, COMMITTED):
        return state
    f = state.config.validator_set.f
    ahead = sorted((round for round in state.round_change_rounds.values() if round > state.round), reverse=True)
    if len(ahead) < f + 1:
        return state
    return _enter_round(state, ahead[f], actions)


def _lead_round(state: ConsensusState, actions: Actions) -> ConsensusState:
    """upon quorum ROUND-CHANGE for our round as its proposer: re-propose the highest prepared
    block, or ask the node to build one."""
    if (
        not state.can_sign
        or state.step != NEW_ROUND
        or state.round == 0
        or not _is_proposer(state)
        or state.building_round == state.round
        or _own(state, MessageKind.PROPOSAL) is not None
    ):
        return state
    round_changes = state.votes.votes(state.height, state.round, MessageKind.ROUND_CHANGE)
    if len(round_changes) < state.config.validator_set.quorum:
        return state
    plan = plan_proposal(state.config.validator_set, round_changes)
    if plan.prepared_block_hash is not None:
        return _repropose(state, plan.prepared_block_hash, plan.prepared_block, plan.justification, actions)
    actions.append(BuildBlock(state.height, state.round))
    return replace(state, building_round=state.round)


def _accept_proposal(state: ConsensusState, actions: Actions) -> ConsensusState:
    """upon PROPOSAL for our round: have the node validate it (unless this block is known valid)."""
    if not state.can_sign or state.step != NEW_ROUND:
        return state
    proposal = state.proposals.get(state.round)
    if proposal is None or proposal.proposal.block in state.rejected_blocks:
        return state
    key = (state.round, proposal.block_hash)
    if proposal.block_hash in state.valid_blocks or key in state.validating:
        return replace(state, step=PROPOSED)
    actions.append(ValidateBlock(state.height, state.round, proposal.block_hash, proposal.proposal.block))
    return replace(state, step=PROPOSED, validating={**state.validating, key: proposal.proposal.block})


def _prepare(state: ConsensusState, actions: Actions) -> ConsensusState:
    """PREPARE the accepted proposal once the node says its block is valid."""
    if not state.can_sign or state.step != PROPOSED or _own(state, MessageKind.PREPARE) is not None:
        return state
    proposal = state.proposals.get(state.round)
    if proposal is None or proposal.block_hash not in state.valid_blocks:
        return state
    prepare = Prepare(state.height, state.round, proposal.block_hash)
    return _send(state, sign(prepare, state.config.chain_id, state.config.signing_key), actions)


def _commit(state: ConsensusState, actions: Actions) -> ConsensusState:
    """upon quorum PREPARE for the block we prepared in this round: lock on it and COMMIT."""
    if not state.can_sign or state.step != PROPOSED:
        return state
    own_prepare = _own(state, MessageKind.PREPARE)
    if own_prepare is None or _own(state, MessageKind.COMMIT) is not None:
        return state
    block_hash = own_prepare.block_hash
    block = state.valid_blocks.get(block_hash)
    prepares = state.votes.votes(state.height, state.round, MessageKind.PREPARE, block_hash)
    quorum = state.config.validator_set.quorum
    if len(prepares) < quorum or block is None:
        return state
    config = state.config
    lock = Lock(state.round, block_hash, block, tuple(prepare.raw for prepare in prepares[:quorum]))
    seal = sign_seal(config.sealing_key, config.chain_id, state.height, state.round, block_hash)
    commit = sign(Commit(state.height, state.round, block_hash, seal), config.chain_id, config.signing_key)
    return _send(replace(state, locked=lock, step=PREPARED), commit, actions)


_RULES: tuple[Callable[[ConsensusState, Actions], ConsensusState], ...] = (
    _decide,
    _catch_up,
    _lead_round,
    _accept_proposal,
    _prepare,
    _commit,
)


# --- helpers ------------------------------------------------------------------------------------


def _enter_round(state: ConsensusState, round: int, actions: Actions) -> ConsensusState:
    """Move to ``round`` and send its ROUND-CHANGE, reporting the lock with its block and certificate."""
    lock = state.locked
    round_change = (
        RoundChange(state.height, round)
        if lock is None
        else RoundChange(state.height, round, lock.round, lock.block_hash, lock.block, lock.prepares)
    )
    message = sign(round_change, state.config.chain_id, state.config.signing_key)
    state = replace(state, round=round, step=NEW_ROUND, sent=(), building_round=None)
    state = _send(state, message, actions)
    actions.append(ScheduleTimeout(state.height, round, "round", round_timeout_ms(state.config, round)))
    return state


def _repropose(
    state: ConsensusState, block_hash: bytes, carried_block: bytes, justification: tuple[bytes, ...], actions: Actions
) -> ConsensusState:
    """Re-propose a prepared block; prefer our own validated copy over the one carried in ROUND-CHANGEs."""
    block = state.valid_blocks.get(block_hash)
    if block is None and state.locked is not None and state.locked.block_hash == block_hash:
        block = state.locked.block
    return _propose(state, block_hash, block or carried_block, justification, actions)


def _propose(
    state: ConsensusState, block_hash: bytes, block: bytes, justification: tuple[bytes, ...], actions: Actions
) -> ConsensusState:
    """Sign and send our proposal. The proposer's own block counts as valid (it built it, or a
    quorum prepared it)."""
    proposal = Proposal(state.height, state.round, block_hash, block, justification)
    message = sign(proposal, state.config.chain_id, state.config.signing_key)
    state = replace(
        state,
        proposals={**state.proposals, state.round: message},
        valid_blocks={**state.valid_blocks, block_hash: block},
    )
    return _send(state, message, actions)


def _send(state: ConsensusState, message: SignedMessage, actions: Actions) -> ConsensusState:
    """Record our message, count it, persist the safety record, then broadcast (write-ahead)."""
    state = replace(state, sent=state.sent + (message,))
    if message.kind != MessageKind.PROPOSAL:
        state = _count_vote(state, message, actions)
    if message.kind == MessageKind.COMMIT:  # our own seal may complete a quorum with held ones
        state = _check_commits(state, message.round, message.block_hash, actions)
    actions.append(PersistSafety(_safety_record(state)))
    actions.append(Broadcast(message))
    return state


def _safety_record(state: ConsensusState) -> bytes:
    messages = [message.raw for message in state.sent]
    proposal = state.proposals.get(state.round)
    own_prepare = _own(state, MessageKind.PREPARE)
    if (
        proposal is not None
        and proposal.sender != state.config.address
        and own_prepare is not None
        and own_prepare.block_hash == proposal.block_hash
    ):
        messages.append(proposal.raw)
    return SafetyRecord(state.height, state.round, state.locked, tuple(messages)).encode()


def _count_vote(state: ConsensusState, message: SignedMessage, actions: Actions) -> ConsensusState:
    votes, result = state.votes.add(message)
    if result.evidence is not None:
        actions.append(ReportEvidence(result.evidence))
    if not result.counted:
        return state
    state = replace(state, votes=votes)
    if message.kind == MessageKind.ROUND_CHANGE:
        if message.round > state.round_change_rounds.get(message.sender, -1):
            state = replace(state, round_change_rounds={**state.round_change_rounds, message.sender: message.round})
    for threshold in result.thresholds:
        if threshold.kind == MessageKind.COMMIT and threshold.level == QUORUM and state.decision is None:
            state = replace(state, decision=(threshold.round, threshold.block_hash))
    return state


def _hold_commit(state: ConsensusState, message: SignedMessage) -> ConsensusState:
    """Keep a validator's COMMIT until its seal is checked: the first one per sender and round.

    A second, different COMMIT of the same sender and round is an equivocation of a validator
    that signed the first; dropping it keeps the held set bounded (n per round, rounds bounded by
    MAX_ROUNDS_AHEAD). An honest validator sends one COMMIT per round.
    """
    for (round, _block_hash), held in state.unchecked_commits.items():
        if round == message.round and message.sender in held:
            return state
    key = (message.round, message.block_hash)
    held = {**state.unchecked_commits.get(key, {}), message.sender: message}
    return replace(state, unchecked_commits={**state.unchecked_commits, key: held})


def _check_commits(state: ConsensusState, round: int, block_hash: bytes, actions: Actions) -> ConsensusState:
    """Check the held COMMITs for (round, hash) once they and the counted ones reach a quorum; count the good ones.

    Seals are checked together (``certificate.valid_seals``: one aggregate check, each seal on its
    own only if that fails), so a block costs about one seal check rather than one per validator.
    Seals that do not verify are dropped and never counted; the others wait for more COMMITs.
    COMMITs arriving once a quorum is already counted are held unchecked: they cannot change the
    decision and are forgotten at the next height.
    """
    key = (round, block_hash)
    held = state.unchecked_commits.get(key)
    if not held:
        return state
    validator_set = state.config.validator_set
    counted = state.votes.count(state.height, round, MessageKind.COMMIT, block_hash)
    if counted >= validator_set.quorum or counted + len(held) < validator_set.quorum:
        return state
    by_index = {validator_set.position(sender): message for sender, message in held.items()}
    good = valid_seals(validator_set, {index: message.commit.seal for index, message in by_index.items()},
                       state.config.chain_id, state.height, round, block_hash)
    state = replace(state, unchecked_commits={other: value for other, value in state.unchecked_commits.items()
                                              if other != key})
    for index in sorted(good):
        state = _count_vote(state, by_index[index], actions)
    return state


def _find_block(state: ConsensusState, block_hash: bytes) -> bytes | None:
    """Unvalidated bytes that claim to be ``block_hash``: from proposals, the lock, ROUND-CHANGEs."""
    candidates = [
        message.proposal.block for message in state.proposals.values() if message.block_hash == block_hash
    ]
    if state.locked is not None and state.locked.block_hash == block_hash:
        candidates.append(state.locked.block)
    for (_height, _, kind), slot in state.votes.slots.items():
        if kind == MessageKind.ROUND_CHANGE:
            candidates.extend(
                vote.round_change.prepared_block
                for vote in slot.values()
                if vote.round_change.prepared_block_hash == block_hash and vote.round_change.prepared_block
            )
    for candidate in candidates:
        if candidate not in state.rejected_blocks:
            return candidate
    return None


def _buffer(state: ConsensusState, message: SignedMessage, actions: Actions) -> ConsensusState:
    """Keep a message for a later height (bounded per sender, oldest dropped) and notice validators
    that are ahead of us."""
    if not state.config.validator_set.contains(message.sender):
        return state
    higher_heights = state.higher_heights
    if message.height > state.height and message.height > higher_heights.get(message.sender, -1):
        higher_heights = {**higher_heights, message.sender: message.height}
    future = state.future
    if message.height <= state.height + MAX_FUTURE_HEIGHTS and all(other.raw != message.raw for other in future):
        own = [other for other in future if other.sender == message.sender]
        if len(own) >= MAX_FUTURE_MESSAGES_PER_SENDER:
            oldest = own[0]
            future = tuple(other for other in future if other is not oldest)
        future = future + (message,)
    state = replace(state, future=future, higher_heights=higher_heights)
    target = _sync_target(state)
    # f+1 validators two or more heights ahead: we missed a whole block, fetch it now. One height
    # ahead is normal (our COMMITs may be in flight); the round timer handles that case.
    if target is not None and target > state.height and target > state.sync_requested:
        actions.append(RequestSync(target))
        state = replace(state, sync_requested=target)
    return state


def _sync_target(state: ConsensusState) -> int | None:
    """Highest height that f+1 validators have finished (they are past it), or None."""
    f = state.config.validator_set.f
    heights = sorted(state.higher_heights.values(), reverse=True)
    if len(heights) < f + 1:
        return None
    return heights[f] - 1


def _maybe_relay_decision(state: ConsensusState, message: SignedMessage, actions: Actions) -> ConsensusState:
    """A validator still changing rounds at the height we just decided missed the COMMITs: relay them
    (they are self-authenticating). Once per sender and round, so a peer cannot make us loop."""
    if (
        message.height != state.height - 1
        or message.kind != MessageKind.ROUND_CHANGE
        or not state.previous_decision
        or message.sender == state.config.address
        or not state.config.validator_set.contains(message.sender)
        or message.round <= state.relayed.get(message.sender, -1)
    ):
        return state
    actions.extend(Broadcast(commit) for commit in state.previous_decision)
    return replace(state, relayed={**state.relayed, message.sender: message.round})


def _is_proposer(state: ConsensusState) -> bool:
    return state.config.validator_set.proposer(state.height, state.round).address == state.config.address


def _own(state: ConsensusState, kind: MessageKind) -> SignedMessage | None:
    """Our message of ``kind`` in the current round, if we sent one."""
    for message in state.sent:
        if message.kind == kind:
            return message
    return None
