"""Commit seals and commit certificates: a block's finality proof, checkable from the validator set alone.

Each COMMIT carries a *seal*: a BLS12-381 signature (IETF ciphersuite
``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_``, blspy ``PopSchemeMPL``) over

    b"settle/commit/1" || chain_id (8 bytes) || height (8 bytes) || round (8 bytes) || block_hash

A quorum of seals from one round aggregates into a ``CommitCertificate``: one 96-byte signature and a
bitmap of the signers. The round is sealed because QBFT's decision is a quorum of COMMITs *in one
round*; without it, seals a validator legitimately gave in different rounds could be pooled into a
certificate that no round ever decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import rlp
from blspy import G2Element, PopSchemeMPL, PrivateKey

from consensus.errors import InvalidCertificate
from consensus.validators import ValidatorSet, bls_public_key_point

SEAL_DOMAIN = b"settle/commit/1"
CERTIFICATE_VERSION = 1
SEAL_LENGTH = 96
HASH_LENGTH = 32


def seal_message(chain_id: int, height: int, round: int, block_hash: bytes) -> bytes:
    """The exact bytes a validator's BLS key signs to seal ``block_hash`` at (height, round)."""
    if len(block_hash) != HASH_LENGTH:
        raise ValueError(f"block_hash is {len(block_hash)} bytes, expected {HASH_LENGTH}")
    return (SEAL_DOMAIN + chain_id.to_bytes(8, "big") + height.to_bytes(8, "big") + round.to_bytes(8, "big")
            + block_hash)


def sign_seal(bls_private_key: bytes, chain_id: int, height: int, round: int, block_hash: bytes) -> bytes:
    """Seal a block with a 32-byte BLS secret key; returns the 96-byte compressed G2 signature."""
    key = PrivateKey.from_bytes(bls_private_key)
    return bytes(PopSchemeMPL.sign(key, seal_message(chain_id, height, round, block_hash)))


def verify_seal(public_key: bytes, seal: bytes, chain_id: int, height: int, round: int, block_hash: bytes) -> bool:
    """Whether ``seal`` is ``public_key``'s seal of this block; False (never an error) for junk bytes."""
    return _verify(public_key, seal_message(chain_id, height, round, block_hash), seal)


SEAL_CHECKS_KEPT = 1024
"""Seal checks remembered (about 400 bytes each): repeats arrive within a few heights of the seal."""


@lru_cache(maxsize=SEAL_CHECKS_KEPT)
def seal_point(seal: bytes) -> G2Element:
    """Decode a compressed G2 seal once (with its subgroup check, a good part of a millisecond): the
    machine checks a quorum's seals and then aggregates the same seals into the certificate."""
    return G2Element.from_bytes(seal)


@lru_cache(maxsize=SEAL_CHECKS_KEPT)
def _verify(public_key: bytes, message: bytes, seal: bytes) -> bool:
    # Memoised: a pure function of its bytes, and the same seal reaches a node several times
    # (relays, rebroadcasts after restarts) while one verification costs about 1-2 ms.
    if len(seal) != SEAL_LENGTH:
        return False
    try:
        signature = seal_point(seal)
        key = bls_public_key_point(public_key)
    except (ValueError, RuntimeError):
        return False
    return bool(PopSchemeMPL.verify(key, message, signature))


def valid_seals(validator_set: ValidatorSet, seals: Mapping[int, bytes], chain_id: int, height: int, round: int,
                block_hash: bytes) -> frozenset[int]:
    """The validator indices in ``seals`` whose seal the rest of the chain will accept in a certificate.

    One FastAggregateVerify of all of them first: they sign the same message, so this costs
    about one seal check whatever their number. If it fails, each seal is checked on its own
    and only the good ones are returned, so one bad seal cannot keep the others out.
    An aggregate that verifies makes these seals' sum a valid certificate part, which is all a
    certificate needs (the caller aggregates every seal it accepted, never a subset of a batch).
    """
    if not seals:
        return frozenset()
    indices = sorted(seals)
    message = seal_message(chain_id, height, round, block_hash)
    if len(indices) > 1 and all(len(seals[index]) == SEAL_LENGTH for index in indices):
        try:
            signature = PopSchemeMPL.aggregate([seal_point(seals[index]) for index in indices])
            keys = [bls_public_key_point(validator_set.validators[index].bls_public_key) for index in indices]
        except (ValueError, RuntimeError):
            pass  # a seal that is not a G2 point: the per-seal checks below name it
        else:
            if PopSchemeMPL.fast_aggregate_verify(keys, message, signature):
                return frozenset(indices)
    return frozenset(index for index in indices
                     if _verify(validator_set.validators[index].bls_public_key, message, seals[index]))


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """Proof that a quorum of validators committed ``block_hash`` at ``height`` in ``round``."""

    height: int
    round: int
    """The round whose COMMITs were aggregated (all seals are over the same round)."""
    block_hash: bytes
    signers: bytes
    """Bitmap: bit i (byte i // 8, bit i % 8, least significant first) set iff validator i sealed."""
    signature: bytes
    """96-byte aggregate BLS signature of the signers' seals."""

    def signer_indices(self) -> tuple[int, ...]:
        """Indices of the set bits, in increasing order."""
        return tuple(index for index in range(len(self.signers) * 8) if self.signers[index // 8] >> (index % 8) & 1)

    def encode(self) -> bytes:
        """RLP ``[version, height, round, block_hash, signers, signature]``; stored beside the block."""
        encoded: bytes = rlp.encode(
            [CERTIFICATE_VERSION, self.height, self.round, self.block_hash, self.signers, self.signature]
        )
        return encoded

    @classmethod
    def decode(cls, data: bytes) -> CommitCertificate:
        """Parse an encoded certificate; raise InvalidCertificate for any structural defect."""
        try:
            items = rlp.decode(bytes(data), strict=True)
        except rlp.exceptions.RLPException as error:
            raise InvalidCertificate(f"not valid RLP: {error}") from None
        except RecursionError:  # lists nested past the interpreter's recursion limit
            raise InvalidCertificate("not valid RLP: lists nested too deeply") from None
        if not isinstance(items, list) or len(items) != 6 or not all(isinstance(item, bytes) for item in items):
            raise InvalidCertificate("expected an RLP list of 6 byte strings")
        version, height, round, block_hash, signers, signature = items
        if _uint(version, "version") != CERTIFICATE_VERSION:
            raise InvalidCertificate(f"unknown certificate version {_uint(version, 'version')}")
        if len(block_hash) != HASH_LENGTH:
            raise InvalidCertificate(f"block_hash is {len(block_hash)} bytes, expected {HASH_LENGTH}")
        if len(signature) != SEAL_LENGTH:
            raise InvalidCertificate(f"signature is {len(signature)} bytes, expected {SEAL_LENGTH}")
        if not signers:
            raise InvalidCertificate("signer bitmap is empty")
        return cls(height=_uint(height, "height"), round=_uint(round, "round"), block_hash=block_hash,
                   signers=signers, signature=signature)


def _uint(value: bytes, name: str) -> int:
    if value[:1] == b"\x00":
        raise InvalidCertificate(f"{name}: integer has a leading zero byte (non-canonical)")
    if len(value) > 8:
        raise InvalidCertificate(f"{name}: integer is {len(value)} bytes, limit 8")
    return int.from_bytes(value, "big")


def signer_bitmap(indices: set[int] | frozenset[int], n: int) -> bytes:
    """The bitmap of ``indices`` for a set of ``n`` validators ((n + 7) // 8 bytes)."""
    bitmap = bytearray((n + 7) // 8)
    for index in indices:
        if not 0 <= index < n:
            raise ValueError(f"signer index {index} outside 0..{n - 1}")
        bitmap[index // 8] |= 1 << (index % 8)
    return bytes(bitmap)


def aggregate(validator_set: ValidatorSet, seals: Mapping[int, bytes], height: int, round: int,
              block_hash: bytes) -> CommitCertificate:
    """Aggregate already-verified seals (validator index -> seal) into a certificate.

    The caller verifies the seals first (the state machine counts only COMMITs whose seals passed
    :func:`valid_seals`, and aggregates all of them), so the aggregate is valid without checking it again.
    """
    if not seals:
        raise ValueError("no seals to aggregate")
    signature = PopSchemeMPL.aggregate([seal_point(seals[index]) for index in sorted(seals)])
    return CommitCertificate(height=height, round=round, block_hash=block_hash,
                             signers=signer_bitmap(frozenset(seals), validator_set.n), signature=bytes(signature))


def verify_certificate(certificate: CommitCertificate, validator_set: ValidatorSet, chain_id: int) -> None:
    """Check that ``certificate`` proves finality for ``validator_set``; raise InvalidCertificate if not.

    The caller must also check that ``certificate.height`` and ``certificate.block_hash`` are those of
    the block it accompanies, and that ``validator_set`` is the set of that height. The aggregate is
    checked with FastAggregateVerify, sound only because a :class:`ValidatorSet` cannot be built with
    a key whose proof of possession does not verify (no rogue keys).
    """
    n = validator_set.n
    expected_length = (n + 7) // 8
    if len(certificate.signers) != expected_length:
        raise InvalidCertificate(
            f"signer bitmap is {len(certificate.signers)} bytes, expected {expected_length} for {n} validators")
    indices = certificate.signer_indices()
    unknown = [index for index in indices if index >= n]
    if unknown:
        raise InvalidCertificate(f"signer bitmap sets bit {unknown[0]}, but there are only {n} validators")
    if len(indices) < validator_set.quorum:
        raise InvalidCertificate(f"{len(indices)} signers, quorum is {validator_set.quorum} of {n}")
    if len(certificate.block_hash) != HASH_LENGTH:
        raise InvalidCertificate(f"block_hash is {len(certificate.block_hash)} bytes, expected {HASH_LENGTH}")
    try:
        signature = G2Element.from_bytes(certificate.signature)
    except (ValueError, RuntimeError):
        raise InvalidCertificate("aggregate signature is not a valid G2 point") from None
    public_keys = [bls_public_key_point(validator_set.validators[index].bls_public_key) for index in indices]
    message = seal_message(chain_id, certificate.height, certificate.round, certificate.block_hash)
    if not PopSchemeMPL.fast_aggregate_verify(public_keys, message, signature):
        raise InvalidCertificate(
            f"aggregate signature does not verify for signers {list(indices)} at height {certificate.height}")
