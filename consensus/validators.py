"""The validator set of one height: who votes, how many faults it tolerates, who proposes.

Validators are identified by their secp256k1 address (consensus messages) and hold a BLS key
(commit seals). Their order is the registry's order and fixes the proposer rotation and the bit of
each validator in a certificate's signer bitmap.

Every BLS key comes with its proof of possession (a signature by the key over the key itself,
IETF ``PopProve``), and a :class:`ValidatorSet` checks each one when it is built. Certificates are
checked with FastAggregateVerify, which sums the signers' keys: without the proofs, a validator
could register the "rogue" key ``pk_attacker - sum(other keys)`` (whose secret nobody knows) and
then forge a certificate signed by everyone from its own signature alone. No proof can be made for
such a key, so a set holding it cannot be built, and no certificate is ever checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from blspy import G1Element, G2Element, PopSchemeMPL, PrivateKey

from consensus.errors import InvalidConfig

ADDRESS_LENGTH = 20
BLS_PUBLIC_KEY_LENGTH = 48
BLS_PROOF_OF_POSSESSION_LENGTH = 96


def fault_tolerance(n: int) -> int:
    """f: the most Byzantine validators n validators tolerate (n >= 3f + 1)."""
    return (n - 1) // 3


def quorum_size(n: int) -> int:
    """ceil(2n/3): any two quorums share more than f validators, so at least one honest one."""
    return -(-2 * n // 3)


@lru_cache(maxsize=1024)
def bls_public_key_point(public_key: bytes) -> G1Element:
    """Decode a compressed G1 public key once; certificate checks reuse it for every height."""
    return G1Element.from_bytes(public_key)


def prove_possession(bls_private_key: bytes) -> bytes:
    """The 96-byte proof of possession of a 32-byte BLS secret key (IETF ``PopProve``).

    Signed under its own domain (``BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_``), so a proof is
    never a valid commit seal and a seal never a valid proof.
    """
    return bytes(PopSchemeMPL.pop_prove(PrivateKey.from_bytes(bls_private_key)))


@lru_cache(maxsize=1024)
def possession_proven(public_key: bytes, proof: bytes) -> bool:
    """Whether ``proof`` is a valid proof of possession of ``public_key``; False for junk, never an error.

    Memoised: a pairing check costs about a millisecond and the same set is rebuilt for every height.
    """
    if len(public_key) != BLS_PUBLIC_KEY_LENGTH or len(proof) != BLS_PROOF_OF_POSSESSION_LENGTH:
        return False
    try:
        key = bls_public_key_point(public_key)
        signature = G2Element.from_bytes(proof)
    except (ValueError, RuntimeError):
        return False
    return bool(PopSchemeMPL.pop_verify(key, signature))


@dataclass(frozen=True, slots=True)
class Validator:
    """One member of the validator set."""

    address: bytes
    """20-byte Ethereum address of the validator's secp256k1 account key; signs consensus messages."""

    bls_public_key: bytes
    """48-byte compressed BLS12-381 G1 public key; verifies the validator's commit seals."""

    bls_proof_of_possession: bytes
    """96-byte proof of possession of ``bls_public_key`` (:func:`prove_possession`)."""


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """An ordered, duplicate-free set of validators.

    Construction refuses a BLS key that is not a valid non-identity point or whose proof of
    possession does not verify: certificates use FastAggregateVerify, which is only sound against
    rogue keys when every key's possession is proven, so a set is the proof that it was.
    """

    validators: tuple[Validator, ...]
    """The validators in registry order."""
    _indices: dict[bytes, int] = field(init=False, repr=False, compare=False, hash=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.validators:
            raise InvalidConfig("validator set is empty")
        addresses: set[bytes] = set()
        keys: set[bytes] = set()
        for index, validator in enumerate(self.validators):
            if len(validator.address) != ADDRESS_LENGTH:
                raise InvalidConfig(f"validator {index}: address is {len(validator.address)} bytes, expected 20")
            if len(validator.bls_public_key) != BLS_PUBLIC_KEY_LENGTH:
                raise InvalidConfig(
                    f"validator {index}: BLS public key is {len(validator.bls_public_key)} bytes, expected 48")
            if validator.address in addresses:
                raise InvalidConfig(f"validator {index}: duplicate address 0x{validator.address.hex()}")
            if validator.bls_public_key in keys:
                raise InvalidConfig(f"validator {index}: duplicate BLS public key")
            try:
                point = bls_public_key_point(validator.bls_public_key)
            except (ValueError, RuntimeError) as error:
                raise InvalidConfig(f"validator {index}: BLS public key is not a G1 point ({error})") from None
            if point == G1Element():
                raise InvalidConfig(f"validator {index}: BLS public key is the identity point")
            if not validator.bls_proof_of_possession:
                raise InvalidConfig(
                    f"validator {index} (0x{validator.address.hex()}): BLS proof of possession is missing")
            if not possession_proven(validator.bls_public_key, validator.bls_proof_of_possession):
                raise InvalidConfig(
                    f"validator {index} (0x{validator.address.hex()}): BLS proof of possession does not verify "
                    "for its public key")
            addresses.add(validator.address)
            keys.add(validator.bls_public_key)
        object.__setattr__(self, "_indices", {v.address: index for index, v in enumerate(self.validators)})

    @property
    def n(self) -> int:
        """Number of validators."""
        return len(self.validators)

    @property
    def f(self) -> int:
        """Faults tolerated: (n - 1) // 3."""
        return fault_tolerance(self.n)

    @property
    def quorum(self) -> int:
        """Votes that decide: ceil(2n/3)."""
        return quorum_size(self.n)

    def proposer(self, height: int, round: int) -> Validator:
        """Round robin (thesis §2.4.4): validators[(height + round) % n].

        Adding the height rotates the round-0 proposer every block; adding the round hands a
        stalled round to the next validator.
        """
        return self.validators[(height + round) % self.n]

    def index_of(self, address: bytes) -> int | None:
        """Position of ``address`` in the set (its bit in a signer bitmap), or None."""
        return self._indices.get(address)

    def position(self, address: bytes) -> int:
        """Position of ``address``, which the caller knows is a validator; ValueError otherwise."""
        index = self._indices.get(address)
        if index is None:
            raise ValueError(f"0x{address.hex()} is not a validator of this set")
        return index

    def contains(self, address: bytes) -> bool:
        """Whether ``address`` is a validator of this set."""
        return address in self._indices
