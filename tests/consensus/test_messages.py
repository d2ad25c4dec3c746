import pytest
import rlp
from eth_hash.auto import keccak

from consensus.errors import InvalidMessage
from consensus.messages import (
    MAX_MESSAGE_BYTES,
    SECP256K1_ORDER,
    Commit,
    MessageKind,
    Prepare,
    Proposal,
    RoundChange,
    decode,
    sign,
    signing_hash,
    without_attachments,
)
from tests.consensus.simulation import CHAIN_ID, validator_keys, validator_set

KEY = validator_keys(0)[0]
ADDRESS = validator_set(4).validators[0].address
HASH = keccak(b"block")
PREPARE_RAW = sign(Prepare(5, 1, HASH), CHAIN_ID, KEY).raw

PAYLOADS = [
    Proposal(5, 0, HASH, b"block bytes"),
    Proposal(5, 2, HASH, b"block bytes", (PREPARE_RAW,)),
    Prepare(5, 1, HASH),
    Commit(5, 1, HASH, b"\x07" * 96),
    RoundChange(5, 3),
    RoundChange(5, 3, 1, HASH, b"block bytes", (PREPARE_RAW, PREPARE_RAW)),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_sign_decode_round_trip(payload):
    message = sign(payload, CHAIN_ID, KEY)
    decoded = decode(message.raw, CHAIN_ID)
    assert decoded == message
    assert decoded.payload == payload
    assert decoded.sender == ADDRESS
    assert (decoded.kind, decoded.height, decoded.round) == (payload.kind, payload.height, payload.round)


def test_signing_is_deterministic_and_domain_separated():
    payload = Prepare(5, 1, HASH)
    assert sign(payload, CHAIN_ID, KEY).raw == sign(payload, CHAIN_ID, KEY).raw
    assert signing_hash(payload, CHAIN_ID) != signing_hash(payload, CHAIN_ID + 1)
    assert signing_hash(Prepare(5, 1, HASH), CHAIN_ID) != signing_hash(Commit(5, 1, HASH, b"\x00" * 96), CHAIN_ID)


def test_other_chain_recovers_another_sender():
    message = sign(Prepare(5, 1, HASH), CHAIN_ID, KEY)
    assert decode(message.raw, CHAIN_ID + 1).sender != ADDRESS


def test_round_change_attachments_are_not_signed():
    full = sign(PAYLOADS[5], CHAIN_ID, KEY)
    stripped = without_attachments(full)
    assert len(stripped.raw) < len(full.raw)
    decoded = decode(stripped.raw, CHAIN_ID)
    assert decoded.sender == ADDRESS
    assert (decoded.payload.prepared_round, decoded.payload.prepared_block_hash) == (1, HASH)
    assert (decoded.payload.prepared_block, decoded.payload.prepared_certificate) == (b"", ())


def _wire(kind, core, attachments, signature):
    return rlp.encode([kind, core, attachments, signature])


GOOD_SIGNATURE = sign(Prepare(5, 1, HASH), CHAIN_ID, KEY).signature


def _high_s(signature):
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([signature[64] ^ 1])


MALFORMED = [
    (b"\x00" * (MAX_MESSAGE_BYTES + 1), f"message is {MAX_MESSAGE_BYTES + 1} bytes, limit {MAX_MESSAGE_BYTES}"),
    (b"\xc2\x01", "not valid RLP"),
    (PREPARE_RAW + b"\x00", "not valid RLP"),
    (rlp.encode(b"hello"), "expected an RLP list [kind, core, attachments, signature]"),
    (rlp.encode([2, [5, 1, HASH], []]), "expected an RLP list [kind, core, attachments, signature]"),
    (_wire(9, [5, 1, HASH], [], GOOD_SIGNATURE), "unknown message kind 9"),
    (_wire(b"\x00\x02", [5, 1, HASH], [], GOOD_SIGNATURE), "kind: integer has a leading zero byte (non-canonical)"),
    (_wire(2, b"core", [], GOOD_SIGNATURE), "core: expected a list"),
    (_wire(2, [5, 1, HASH], b"", GOOD_SIGNATURE), "attachments: expected a list"),
    (_wire(2, [5, 1], [], GOOD_SIGNATURE), "prepare core: expected 3 items, got 2"),
    (_wire(2, [b"\x00\x05", 1, HASH], [], GOOD_SIGNATURE), "height: integer has a leading zero byte (non-canonical)"),
    (_wire(2, [2**64, 1, HASH], [], GOOD_SIGNATURE), "height: integer is 9 bytes, limit 8"),
    (_wire(2, [5, [1], HASH], [], GOOD_SIGNATURE), "round: expected a byte string, got a list"),
    (_wire(2, [5, 1, HASH[:31]], [], GOOD_SIGNATURE), "block_hash: expected 32 bytes, got 31"),
    (_wire(2, [5, 1, HASH], [b"x"], GOOD_SIGNATURE), "PREPARE carries attachments; only ROUND-CHANGE may"),
    (_wire(3, [5, 1, HASH, b"\x01" * 95], [], GOOD_SIGNATURE), "seal: expected 96 bytes, got 95"),
    (_wire(1, [5, 0, HASH, b"", []], [], GOOD_SIGNATURE), "proposal: block is empty"),
    (_wire(1, [5, 0, HASH, b"b", [PREPARE_RAW]], [], GOOD_SIGNATURE),
     "proposal: a round-0 proposal must not carry a justification"),
    (_wire(1, [5, 2, HASH, b"b", []], [], GOOD_SIGNATURE), "proposal: round 2 proposal has no justification"),
    (_wire(1, [5, 2, HASH, b"b", [[b"x"]]], [], GOOD_SIGNATURE), "justification[0]: expected a byte string"),
    (_wire(4, [5, 0, []], [b"", []], GOOD_SIGNATURE), "round change: round 0 cannot be changed to"),
    (_wire(4, [5, 2, [2, HASH]], [b"", []], GOOD_SIGNATURE),
     "round change: prepared round 2 is not below round 2"),
    (_wire(4, [5, 2, []], [b"block", []], GOOD_SIGNATURE),
     "round change: prepared block or certificate without a prepared round"),
    (_wire(4, [5, 2, [1]], [b"", []], GOOD_SIGNATURE), "prepared: expected 2 items, got 1"),
    (_wire(4, [5, 2, []], [], GOOD_SIGNATURE), "round change attachments: expected 2 items, got 0"),
    (_wire(2, [5, 1, HASH], [], GOOD_SIGNATURE[:64]), "signature: expected 65 bytes, got 64"),
    (_wire(2, [5, 1, HASH], [], GOOD_SIGNATURE[:64] + b"\x02"), "signature: recovery id 2 not in {0, 1}"),
    (_wire(2, [5, 1, HASH], [], b"\x00" * 32 + GOOD_SIGNATURE[32:]), "signature: r out of range"),
    (_wire(2, [5, 1, HASH], [], _high_s(GOOD_SIGNATURE)),
     "signature: s is zero or in the upper half of the curve order (non-canonical)"),
    (_wire(2, [5, 1, HASH], [], [GOOD_SIGNATURE]), "signature: expected a byte string, got a list"),
]


@pytest.mark.parametrize("raw, reason", MALFORMED, ids=[reason[:40] for _, reason in MALFORMED])
def test_malformed_messages_are_rejected_with_the_precise_reason(raw, reason):
    with pytest.raises(InvalidMessage) as error:
        decode(raw, CHAIN_ID)
    assert error.value.reason.startswith(reason), error.value.reason


def test_forged_body_recovers_a_different_sender():
    """A changed body no longer matches the signature: the recovered sender is some other address."""
    message = sign(Prepare(5, 1, HASH), CHAIN_ID, KEY)
    forged = _wire(2, [5, 2, HASH], [], message.signature)
    assert decode(forged, CHAIN_ID).sender != ADDRESS


def test_sign_refuses_payloads_decode_would_reject():
    with pytest.raises(InvalidMessage, match="round change: prepared round 4 is not below round 3"):
        sign(RoundChange(5, 3, 4, HASH), CHAIN_ID, KEY)
    with pytest.raises(InvalidMessage, match="block_hash: expected 32 bytes, got 3"):
        sign(Prepare(5, 1, b"abc"), CHAIN_ID, KEY)


def test_kind_values_are_stable():
    assert [kind.value for kind in MessageKind] == [1, 2, 3, 4]


def test_signing_derives_the_public_key_once_per_key():
    from consensus.messages import Prepare, _signer, decode, sign
    from tests.consensus.simulation import CHAIN_ID, validator_keys
    account_key = validator_keys(2)[0]
    _signer.cache_clear()
    first = sign(Prepare(5, 0, b"\x01" * 32), CHAIN_ID, account_key)
    second = sign(Prepare(6, 0, b"\x01" * 32), CHAIN_ID, account_key)
    assert _signer.cache_info().misses == 1 and _signer.cache_info().hits == 1
    assert first.sender == second.sender == decode(second.raw, CHAIN_ID).sender
