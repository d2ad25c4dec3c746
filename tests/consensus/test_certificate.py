from dataclasses import replace

import pytest
import rlp
from blspy import G1Element, G2Element, PopSchemeMPL
from eth_hash.auto import keccak
from py_ecc.bls import G2ProofOfPossession

from consensus.certificate import (
    CommitCertificate,
    aggregate,
    seal_message,
    sign_seal,
    signer_bitmap,
    valid_seals,
    verify_certificate,
    verify_seal,
)
from consensus.errors import InvalidCertificate, InvalidConfig
from consensus.validators import Validator, ValidatorSet
from tests.consensus.helpers import block_hash
from tests.consensus.simulation import CHAIN_ID, validator_keys, validator_set

H = block_hash("certified")
VALIDATORS = validator_set(7)  # quorum 5


def seals(indices, height=9, round=2, hash_=H):
    return {i: sign_seal(validator_keys(i)[1], CHAIN_ID, height, round, hash_) for i in indices}


def certificate(indices=(0, 2, 3, 5, 6), **kwargs):
    return aggregate(VALIDATORS, seals(indices, **kwargs), kwargs.get("height", 9), kwargs.get("round", 2),
                     kwargs.get("hash_", H))


def test_seal_message_layout():
    message = seal_message(CHAIN_ID, 9, 2, H)
    assert message == b"settle/commit/1" + CHAIN_ID.to_bytes(8, "big") + (9).to_bytes(8, "big") + \
        (2).to_bytes(8, "big") + H
    with pytest.raises(ValueError):
        seal_message(CHAIN_ID, 9, 2, H[:5])


def test_seal_verifies_only_for_its_key_chain_height_round_and_hash():
    key = VALIDATORS.validators[1].bls_public_key
    seal = sign_seal(validator_keys(1)[1], CHAIN_ID, 9, 2, H)
    assert len(seal) == 96
    assert verify_seal(key, seal, CHAIN_ID, 9, 2, H)
    assert not verify_seal(VALIDATORS.validators[0].bls_public_key, seal, CHAIN_ID, 9, 2, H)
    assert not verify_seal(key, seal, CHAIN_ID + 1, 9, 2, H)
    assert not verify_seal(key, seal, CHAIN_ID, 10, 2, H)
    assert not verify_seal(key, seal, CHAIN_ID, 9, 3, H)
    assert not verify_seal(key, seal, CHAIN_ID, 9, 2, block_hash("other"))
    assert not verify_seal(key, b"\x00" * 96, CHAIN_ID, 9, 2, H)
    assert not verify_seal(key, seal[:95], CHAIN_ID, 9, 2, H)


def test_certificate_round_trip_and_verify():
    cert = certificate()
    assert cert.signer_indices() == (0, 2, 3, 5, 6)
    assert cert.signers == bytes([0b01101101])
    decoded = CommitCertificate.decode(cert.encode())
    assert decoded == cert
    verify_certificate(decoded, VALIDATORS, CHAIN_ID)


def test_signer_bitmap_spans_bytes():
    assert signer_bitmap({0, 8, 9}, 10) == bytes([0b1, 0b11])
    with pytest.raises(ValueError):
        signer_bitmap({10}, 10)


TAMPERED = [
    ("too few signers", lambda c: aggregate(VALIDATORS, seals((0, 1, 2, 3)), 9, 2, H),
     "4 signers, quorum is 5 of 7"),
    ("unknown bit", lambda c: replace(c, signers=bytes([c.signers[0] | 0x80])),
     "signer bitmap sets bit 7, but there are only 7 validators"),
    ("bitmap too long", lambda c: replace(c, signers=c.signers + b"\x00"),
     "signer bitmap is 2 bytes, expected 1 for 7 validators"),
    ("signer swapped", lambda c: replace(c, signers=bytes([0b01101110])), "aggregate signature does not verify"),
    ("extra signer claimed", lambda c: replace(c, signers=bytes([0b01111101])), "aggregate signature does not verify"),
    ("other block", lambda c: replace(c, block_hash=block_hash("other")), "aggregate signature does not verify"),
    ("other height", lambda c: replace(c, height=10), "aggregate signature does not verify"),
    ("other round", lambda c: replace(c, round=3), "aggregate signature does not verify"),
    ("not a point", lambda c: replace(c, signature=b"\x01" * 96), "aggregate signature is not a valid G2 point"),
    ("one seal as aggregate", lambda c: replace(c, signature=seals((0,))[0]), "aggregate signature does not verify"),
]


@pytest.mark.parametrize("name, tamper, reason", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_certificates_are_rejected(name, tamper, reason):
    forged = tamper(certificate())
    with pytest.raises(InvalidCertificate) as error:
        verify_certificate(CommitCertificate.decode(forged.encode()), VALIDATORS, CHAIN_ID)
    assert error.value.reason.startswith(reason), error.value.reason


def test_certificate_of_another_chain_is_rejected():
    with pytest.raises(InvalidCertificate, match="does not verify"):
        verify_certificate(certificate(), VALIDATORS, CHAIN_ID + 1)


def test_mixed_round_seals_do_not_make_a_certificate():
    mixed = {**seals((0, 2, 3), round=1), **seals((5, 6), round=2)}
    forged = aggregate(VALIDATORS, mixed, 9, 2, H)
    with pytest.raises(InvalidCertificate, match="does not verify"):
        verify_certificate(forged, VALIDATORS, CHAIN_ID)


MALFORMED = [
    (b"\xc3\x01", "not valid RLP"),
    (rlp.encode([1, 9, 2, H, b"\x01"]), "expected an RLP list of 6 byte strings"),
    (rlp.encode([2, 9, 2, H, b"\x01", b"\x00" * 96]), "unknown certificate version 2"),
    (rlp.encode([1, b"\x00\x09", 2, H, b"\x01", b"\x00" * 96]), "height: integer has a leading zero byte"),
    (rlp.encode([1, 9, 2, H[:31], b"\x01", b"\x00" * 96]), "block_hash is 31 bytes, expected 32"),
    (rlp.encode([1, 9, 2, H, b"\x01", b"\x00" * 95]), "signature is 95 bytes, expected 96"),
    (rlp.encode([1, 9, 2, H, b"", b"\x00" * 96]), "signer bitmap is empty"),
    (rlp.encode([1, 9, 2, H, [b"\x01"], b"\x00" * 96]), "expected an RLP list of 6 byte strings"),
]


@pytest.mark.parametrize("data, reason", MALFORMED, ids=[m[1][:30] for m in MALFORMED])
def test_malformed_certificates_are_rejected_on_decode(data, reason):
    with pytest.raises(InvalidCertificate) as error:
        CommitCertificate.decode(data)
    assert error.value.reason.startswith(reason), error.value.reason


def test_py_ecc_verifies_a_blspy_seal_and_a_blspy_aggregate():
    """The IETF ciphersuite: a reference implementation checks what blspy produced."""
    message = seal_message(CHAIN_ID, 9, 2, H)
    seal = sign_seal(validator_keys(3)[1], CHAIN_ID, 9, 2, H)
    assert G2ProofOfPossession.Verify(VALIDATORS.validators[3].bls_public_key, message, seal)
    cert = certificate()
    keys = [VALIDATORS.validators[i].bls_public_key for i in cert.signer_indices()]
    assert G2ProofOfPossession.FastAggregateVerify(keys, message, cert.signature)
    assert not G2ProofOfPossession.FastAggregateVerify(keys[1:], message, cert.signature)


def test_blspy_pop_keys_match_the_registered_keys():
    """The proof of possession that registration must check verifies for the simulated keys."""
    from blspy import PrivateKey
    key = PrivateKey.from_bytes(validator_keys(2)[1])
    assert PopSchemeMPL.pop_verify(key.get_g1(), PopSchemeMPL.pop_prove(key))
    assert bytes(key.get_g1()) == VALIDATORS.validators[2].bls_public_key


def test_py_ecc_verifies_the_registered_proofs_of_possession():
    """Proofs use the IETF PoP ciphersuite: the reference implementation accepts blspy's."""
    for validator in VALIDATORS.validators:
        assert G2ProofOfPossession.PopVerify(validator.bls_public_key, validator.bls_proof_of_possession)
    assert not G2ProofOfPossession.PopVerify(VALIDATORS.validators[0].bls_public_key,
                                             VALIDATORS.validators[1].bls_proof_of_possession)


def _rogue_key_attack():
    """Issue 22, critical 2: three honest validators and an attacker who registers a rogue key.

    The attacker picks ``pk_rogue = pk_attacker - (pk_0 + pk_1 + pk_2)``, so the four keys sum to
    ``pk_attacker``: its one signature passes FastAggregateVerify for a certificate claiming all four
    signers. It knows no secret key of ``pk_rogue``, so the best proof of possession it can offer is
    one made with a key it does know.
    """
    honest = validator_set(3).validators
    attacker = PopSchemeMPL.key_gen(keccak(b"settle/test/attacker"))
    rogue = attacker.get_g1()
    for validator in honest:
        rogue = rogue + G1Element.from_bytes(validator.bls_public_key).negate()
    message = seal_message(CHAIN_ID, 5, 0, H)
    forged = bytes(PopSchemeMPL.sign(attacker, message))
    return honest, bytes(rogue), bytes(PopSchemeMPL.pop_prove(attacker)), message, forged


def test_the_rogue_key_forgery_passes_the_fast_aggregate_check_on_its_own():
    """Why the proofs are needed: the bare primitive accepts the forged certificate."""
    honest, rogue, _, message, forged = _rogue_key_attack()
    keys = [G1Element.from_bytes(v.bls_public_key) for v in honest] + [G1Element.from_bytes(rogue)]
    assert PopSchemeMPL.fast_aggregate_verify(keys, message, G2Element.from_bytes(forged))


@pytest.mark.parametrize("proof", ["attacker's own", "an honest one", "missing"])
def test_a_rogue_key_cannot_join_a_set_so_its_forged_certificate_is_never_checked(proof):
    honest, rogue, attacker_proof, _, forged = _rogue_key_attack()
    offered = {"attacker's own": attacker_proof, "an honest one": honest[0].bls_proof_of_possession,
               "missing": b""}[proof]
    with pytest.raises(InvalidConfig) as error:
        ValidatorSet(honest + (Validator(b"\xaa" * 20, rogue, offered),))
    assert error.value.reason.startswith(f"validator 3 (0x{'aa' * 20}): BLS proof of possession")


def test_verify_certificate_refuses_the_forgery_against_the_honest_set():
    """Without the rogue key in the set, the forged signature proves nothing."""
    honest, _, _, _, forged = _rogue_key_attack()
    honest_set = ValidatorSet(honest)
    forged_certificate = CommitCertificate(5, 0, H, signer_bitmap(frozenset(range(3)), 3), forged)
    with pytest.raises(InvalidCertificate, match="aggregate signature does not verify"):
        verify_certificate(forged_certificate, honest_set, CHAIN_ID)


class CountingScheme:
    """PopSchemeMPL, counting its pairing checks (per-seal and aggregate)."""

    def __init__(self):
        self.verify = 0
        self.fast_aggregate_verify = 0

    def __getattr__(self, name):
        return getattr(PopSchemeMPL, name)

    def __getattribute__(self, name):
        if name in ("verify", "fast_aggregate_verify"):
            def counted(*args):
                object.__setattr__(self, name, object.__getattribute__(self, "__dict__")[name] + 1)
                return getattr(PopSchemeMPL, name)(*args)
            return counted
        return object.__getattribute__(self, name)


@pytest.fixture
def pairing_checks(monkeypatch):
    import consensus.certificate as module
    module._verify.cache_clear()
    scheme = CountingScheme()
    monkeypatch.setattr(module, "PopSchemeMPL", scheme)
    return scheme.__dict__


def test_valid_seals_accepts_a_good_batch_with_one_aggregate_check(pairing_checks):
    hash_ = block_hash("one check for the batch")
    batch = seals((1, 2, 4, 6), hash_=hash_)
    assert valid_seals(VALIDATORS, batch, CHAIN_ID, 9, 2, hash_) == frozenset({1, 2, 4, 6})
    assert pairing_checks == {"verify": 0, "fast_aggregate_verify": 1}


def test_valid_seals_names_each_bad_seal_and_keeps_the_good_ones(pairing_checks):
    hash_ = block_hash("a bad seal in the batch")
    batch = seals((0, 1, 2, 3), hash_=hash_)
    batch[1] = seals((1,), hash_=H)[1]  # a real seal, of another block
    batch[3] = b"\x01" * 96  # not a G2 point
    assert valid_seals(VALIDATORS, batch, CHAIN_ID, 9, 2, hash_) == frozenset({0, 2})
    assert pairing_checks["verify"] == 3  # after the failed aggregate: each point checked on its own
    # The good ones make a certificate that verifies.
    good = {index: batch[index] for index in (0, 2)} | seals((4, 5, 6), hash_=hash_)
    verify_certificate(aggregate(VALIDATORS, good, 9, 2, hash_), VALIDATORS, CHAIN_ID)


def test_valid_seals_judges_a_batch_by_its_sum_which_is_what_a_certificate_holds():
    """Two validators that swap their seals pass together (the sum is theirs, so a certificate from both
    verifies), and each fails alone: why the machine aggregates every seal it accepted, never a subset."""
    swapped = seals((0, 1))
    swapped = {0: swapped[1], 1: swapped[0]}
    assert valid_seals(VALIDATORS, swapped, CHAIN_ID, 9, 2, H) == frozenset({0, 1})
    assert valid_seals(VALIDATORS, {0: swapped[0]}, CHAIN_ID, 9, 2, H) == frozenset()
    assert valid_seals(VALIDATORS, {0: swapped[0], 2: seals((2,))[2]}, CHAIN_ID, 9, 2, H) == frozenset({2})
    verify_certificate(aggregate(VALIDATORS, swapped | seals((2, 3, 4)), 9, 2, H), VALIDATORS, CHAIN_ID)
    assert valid_seals(VALIDATORS, {}, CHAIN_ID, 9, 2, H) == frozenset()


def test_a_seal_is_decoded_once_for_its_check_and_its_certificate(pairing_checks):
    from consensus.certificate import seal_point
    hash_ = block_hash("decoded once")
    batch = seals((0, 1, 2, 3, 4), hash_=hash_)
    seal_point.cache_clear()
    assert valid_seals(VALIDATORS, batch, CHAIN_ID, 9, 2, hash_) == frozenset(batch)
    verify_certificate(aggregate(VALIDATORS, batch, 9, 2, hash_), VALIDATORS, CHAIN_ID)
    assert seal_point.cache_info().misses == 5 and seal_point.cache_info().hits == 5
