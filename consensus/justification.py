"""Justification of round changes and of proposals in rounds > 0 (QBFT's JustifyRoundChange and
JustifyPrePrepare), and how a proposer assembles one.

Why it is safe: a block decided in round r had a quorum of COMMITs, so more than f honest validators
hold a prepared certificate for it from round r. Any quorum of ROUND-CHANGEs for a later round
contains one of them, so the highest prepared round reported in that quorum is >= r, and by induction
its certificate is for the decided block. A proposal for round > 0 must therefore carry a quorum of
ROUND-CHANGEs for its round and, if any of them reports a prepared round, a quorum of PREPAREs for
the block of the highest one, and propose exactly that block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from consensus.errors import InvalidJustification, InvalidMessage
from consensus.messages import MessageKind, Proposal, RoundChange, SignedMessage, decode, without_attachments
from consensus.validators import ValidatorSet


def prepared_certificate_problem(validator_set: ValidatorSet, chain_id: int, height: int, round: int,
                                 block_hash: bytes, prepares: Sequence[bytes]) -> str | None:
    """Why ``prepares`` is not a quorum of PREPAREs for (height, round, block_hash), or None if it is."""
    senders: set[bytes] = set()
    for index, raw in enumerate(prepares):
        try:
            message = decode(raw, chain_id)
        except InvalidMessage as error:
            return f"prepare {index}: {error.reason}"
        if message.kind != MessageKind.PREPARE:
            return f"prepare {index} is a {message.kind.name}"
        if (message.height, message.round, message.block_hash) != (height, round, block_hash):
            return (
                f"prepare {index} is for height {message.height} round {message.round} block "
                f"{message.block_hash.hex()[:16]}, expected height {height} round {round} block {block_hash.hex()[:16]}"
            )
        if not validator_set.contains(message.sender):
            return f"prepare {index} is signed by 0x{message.sender.hex()}, not a validator"
        if message.sender in senders:
            return f"prepare {index} repeats signer 0x{message.sender.hex()}"
        senders.add(message.sender)
    if len(senders) < validator_set.quorum:
        return f"{len(senders)} prepares, quorum is {validator_set.quorum}"
    return None


def round_change_problem(validator_set: ValidatorSet, chain_id: int, message: SignedMessage) -> str | None:
    """Why a received ROUND-CHANGE is invalid, or None: a reported prepared round needs its block and
    a valid prepared certificate attached."""
    payload = message.payload
    assert isinstance(payload, RoundChange)
    if payload.prepared_round is None:
        return None
    if not payload.prepared_block:
        return f"reports prepared round {payload.prepared_round} but carries no block"
    problem = prepared_certificate_problem(
        validator_set,
        chain_id,
        payload.height,
        payload.prepared_round,
        payload.prepared_block_hash,
        payload.prepared_certificate,
    )
    return None if problem is None else f"prepared certificate: {problem}"


def check_justification(validator_set: ValidatorSet, chain_id: int, proposal: Proposal) -> tuple[SignedMessage, ...]:
    """Check a round > 0 proposal's justification; return its ROUND-CHANGEs or raise InvalidJustification.

    Rules (QBFT JustifyPrePrepare):
    1. every element decodes, is at the proposal's height and signed by a validator;
    2. the ROUND-CHANGEs are for the proposal's round, from >= quorum distinct validators;
    3. if none reports a prepared round, any block may be proposed and no PREPAREs may be attached;
    4. otherwise let pr be the highest reported prepared round: some ROUND-CHANGE reports (pr, block_hash)
       for the proposed block_hash, and the attached PREPAREs are a quorum for (height, pr, block_hash).
    """
    round_changes: dict[bytes, SignedMessage] = {}
    prepares: list[bytes] = []
    for index, raw in enumerate(proposal.justification):
        try:
            message = decode(raw, chain_id)
        except InvalidMessage as error:
            raise InvalidJustification(f"justification[{index}]: {error.reason}") from None
        if message.height != proposal.height:
            raise InvalidJustification(
                f"justification[{index}] is for height {message.height}, proposal is for {proposal.height}"
            )
        if not validator_set.contains(message.sender):
            raise InvalidJustification(f"justification[{index}] is signed by 0x{message.sender.hex()}, not a validator")
        if message.kind == MessageKind.ROUND_CHANGE:
            if message.round != proposal.round:
                raise InvalidJustification(
                    f"justification[{index}] is a round change to round {message.round}, "
                    f"proposal is for {proposal.round}"
                )
            if message.sender in round_changes:
                raise InvalidJustification(
                    f"justification[{index}] repeats round change signer 0x{message.sender.hex()}"
                )
            round_changes[message.sender] = message
        elif message.kind == MessageKind.PREPARE:
            prepares.append(raw)
        else:
            raise InvalidJustification(f"justification[{index}] is a {message.kind.name}")
    if len(round_changes) < validator_set.quorum:
        raise InvalidJustification(
            f"{len(round_changes)} round changes for round {proposal.round}, quorum is {validator_set.quorum}"
        )
    prepared = [
        (payload.prepared_round, payload.prepared_block_hash)
        for payload in (message.round_change for message in round_changes.values())
        if payload.prepared_round is not None
    ]
    if not prepared:
        if prepares:
            raise InvalidJustification("carries prepares but no round change reports a prepared round")
        return tuple(round_changes.values())
    highest_round = max(prepared_round for prepared_round, _ in prepared)
    if (highest_round, proposal.block_hash) not in prepared:
        raise InvalidJustification(
            f"proposes block {proposal.block_hash.hex()[:16]}, but no round change reports it prepared in the "
            f"highest prepared round {highest_round}"
        )
    problem = prepared_certificate_problem(
        validator_set, chain_id, proposal.height, highest_round, proposal.block_hash, prepares
    )
    if problem is not None:
        raise InvalidJustification(f"prepared certificate for round {highest_round}: {problem}")
    return tuple(round_changes.values())


@dataclass(frozen=True, slots=True)
class ProposalPlan:
    """What the proposer of a round > 0 must propose, derived from a quorum of ROUND-CHANGEs."""

    justification: tuple[bytes, ...]
    prepared_block_hash: bytes | None
    """The block to re-propose (highest prepared), or None: the proposer may build a new block."""
    prepared_block: bytes
    """The re-proposed block as carried by the ROUND-CHANGEs (the most common copy), or empty."""


def plan_proposal(validator_set: ValidatorSet, round_changes: Sequence[SignedMessage]) -> ProposalPlan:
    """Pick the justification (a quorum, including the highest prepared ROUND-CHANGE) and the value.

    ``round_changes`` are valid ROUND-CHANGEs (certificates checked) for one (height, round) from
    distinct validators, at least a quorum, in validator order.
    """
    quorum = validator_set.quorum
    if len(round_changes) < quorum:
        raise ValueError(f"{len(round_changes)} round changes, quorum is {quorum}")
    prepared = [message for message in round_changes if message.round_change.prepared_round is not None]
    if not prepared:
        chosen = list(round_changes[:quorum])
        return ProposalPlan(tuple(without_attachments(message).raw for message in chosen), None, b"")
    highest = max(prepared, key=_prepared_round)
    chosen = [highest] + [message for message in round_changes if message is not highest][: quorum - 1]
    block_hash = highest.round_change.prepared_block_hash
    copies = Counter(
        message.round_change.prepared_block
        for message in prepared
        if message.round_change.prepared_round == highest.round_change.prepared_round
        and message.round_change.prepared_block_hash == block_hash
    )
    block = copies.most_common(1)[0][0]
    round_changes_raw = tuple(without_attachments(message).raw for message in chosen)
    justification = round_changes_raw + highest.round_change.prepared_certificate
    return ProposalPlan(justification, block_hash, block)


def _prepared_round(message: SignedMessage) -> int:
    """The prepared round of a ROUND-CHANGE already known to report one."""
    prepared_round = message.round_change.prepared_round
    if prepared_round is None:
        raise ValueError("the round change reports no prepared round")
    return prepared_round
