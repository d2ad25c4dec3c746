"""Signed messages from the simulated validators, for table-driven consensus tests."""

from __future__ import annotations

from eth_hash.auto import keccak

from consensus.certificate import sign_seal
from consensus.messages import Commit, Prepare, Proposal, RoundChange, SignedMessage, sign
from tests.consensus.simulation import CHAIN_ID, validator_keys, validator_set


def block_hash(label: str) -> bytes:
    return keccak(label.encode())


def prepare(index: int, height: int, round: int, hash_: bytes) -> SignedMessage:
    return sign(Prepare(height, round, hash_), CHAIN_ID, validator_keys(index)[0])


def commit(index: int, height: int, round: int, hash_: bytes, seal: bytes | None = None) -> SignedMessage:
    seal = seal if seal is not None else sign_seal(validator_keys(index)[1], CHAIN_ID, height, round, hash_)
    return sign(Commit(height, round, hash_, seal), CHAIN_ID, validator_keys(index)[0])


def round_change(index: int, height: int, round: int, prepared_round: int | None = None, hash_: bytes = b"",
                 block: bytes = b"", certificate: tuple[bytes, ...] = ()) -> SignedMessage:
    payload = RoundChange(height, round, prepared_round, hash_, block, certificate)
    return sign(payload, CHAIN_ID, validator_keys(index)[0])


def proposal(index: int, height: int, round: int, hash_: bytes, block: bytes,
             justification: tuple[bytes, ...] = ()) -> SignedMessage:
    return sign(Proposal(height, round, hash_, block, justification), CHAIN_ID, validator_keys(index)[0])


def address(index: int, n: int = 4) -> bytes:
    return validator_set(n).validators[index].address
