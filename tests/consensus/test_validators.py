import pytest
from blspy import G1Element

from consensus.errors import InvalidConfig
from consensus.validators import Validator, ValidatorSet, fault_tolerance, possession_proven, quorum_size
from tests.consensus.simulation import validator_set

# n: (f, quorum); n >= 3f + 1 and any two quorums overlap in more than f validators.
EXPECTED = {1: (0, 1), 2: (0, 2), 3: (0, 2), 4: (1, 3), 5: (1, 4), 6: (1, 4), 7: (2, 5), 8: (2, 6),
            9: (2, 6), 10: (3, 7)}


@pytest.mark.parametrize("n", sorted(EXPECTED))
def test_fault_tolerance_and_quorum(n):
    f, quorum = EXPECTED[n]
    assert (fault_tolerance(n), quorum_size(n)) == (f, quorum)
    validators = validator_set(n)
    assert (validators.n, validators.f, validators.quorum) == (n, f, quorum)
    assert 2 * quorum - n > f, "two quorums must share an honest validator"
    assert n - f >= quorum, "the honest validators alone must form a quorum"


def test_proposer_rotates_with_height_and_round():
    validators = validator_set(4)
    addresses = [v.address for v in validators.validators]
    assert [validators.proposer(1, r).address for r in range(5)] == [addresses[i] for i in (1, 2, 3, 0, 1)]
    assert [validators.proposer(h, 0).address for h in range(1, 6)] == [addresses[i] for i in (1, 2, 3, 0, 1)]
    assert validators.proposer(10, 3).address == addresses[(10 + 3) % 4]


def test_index_of_and_contains():
    validators = validator_set(4)
    for index, validator in enumerate(validators.validators):
        assert validators.index_of(validator.address) == index
        assert validators.contains(validator.address)
    assert validators.index_of(b"\x01" * 20) is None
    assert not validators.contains(b"\x01" * 20)


def _with(validators, index, **changes):
    items = list(validators.validators)
    original = items[index]
    items[index] = Validator(changes.get("address", original.address),
                             changes.get("bls_public_key", original.bls_public_key),
                             changes.get("proof", original.bls_proof_of_possession))
    return tuple(items)


@pytest.mark.parametrize("change, reason", [
    (lambda v: (), "validator set is empty"),
    (lambda v: _with(v, 2, address=v.validators[0].address), "validator 2: duplicate address"),
    (lambda v: _with(v, 1, bls_public_key=v.validators[0].bls_public_key), "validator 1: duplicate BLS public key"),
    (lambda v: _with(v, 0, address=b"\x01" * 19), "validator 0: address is 19 bytes"),
    (lambda v: _with(v, 3, bls_public_key=b"\x01" * 47), "validator 3: BLS public key is 47 bytes"),
    (lambda v: _with(v, 1, bls_public_key=bytes(G1Element())), "validator 1: BLS public key is the identity point"),
    (lambda v: _with(v, 1, bls_public_key=b"\x80" + b"\x07" * 47), "validator 1: BLS public key is not a G1 point"),
])
def test_invalid_sets_are_refused_with_the_reason(change, reason):
    with pytest.raises(InvalidConfig) as error:
        ValidatorSet(change(validator_set(4)))
    assert error.value.reason.startswith(reason)


@pytest.mark.parametrize("index, proof, problem", [
    (2, lambda v: b"", "BLS proof of possession is missing"),
    (2, lambda v: v.validators[1].bls_proof_of_possession, "BLS proof of possession does not verify"),
    (3, lambda v: b"\x01" * 96, "BLS proof of possession does not verify"),
    (0, lambda v: v.validators[0].bls_proof_of_possession[:95], "BLS proof of possession does not verify"),
])
def test_a_key_without_its_proof_of_possession_is_refused_naming_the_validator(index, proof, problem):
    validators = validator_set(4)
    with pytest.raises(InvalidConfig) as error:
        ValidatorSet(_with(validators, index, proof=proof(validators)))
    address = validators.validators[index].address.hex()
    assert error.value.reason == f"validator {index} (0x{address}): {problem}" + (
        " for its public key" if "verify" in problem else "")


def test_possession_proven_is_false_for_junk_never_an_error():
    validator = validator_set(4).validators[0]
    assert possession_proven(validator.bls_public_key, validator.bls_proof_of_possession)
    assert not possession_proven(validator.bls_public_key, b"")
    assert not possession_proven(b"\x00" * 48, validator.bls_proof_of_possession)
    assert not possession_proven(validator.bls_public_key, b"\xff" * 96)
