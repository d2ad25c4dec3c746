"""Signed consensus messages: the four QBFT payloads, their wire format, signing and strict decoding.

Wire format (RLP)::

    [kind, core, attachments, signature]

``signature`` is a 65-byte recoverable secp256k1 signature (r || s || recovery id) over::

    keccak(b"settle/consensus/1" || chain_id as 8 bytes || rlp([kind, core]))

so a message cannot be replayed on another chain or reinterpreted as another kind. The sender is
the address the signature recovers to; it is never sent separately.

``core`` is everything the sender vouches for. ``attachments`` are only used by ROUND-CHANGE, for the
prepared block and its prepared certificate: both are self-authenticating (the certificate is a set of
signed PREPAREs, the block is checked against the signed hash by the node when re-proposed), so
a proposer can strip them when it copies ROUND-CHANGEs into a proposal's justification, as QBFT
does, instead of carrying one block per ROUND-CHANGE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Any, ClassVar, TypeVar

import rlp
from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from consensus.errors import InvalidMessage

DOMAIN = b"settle/consensus/1"
"""Prefix of every signed consensus digest; a new message format gets a new domain."""

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""Largest encoded message accepted. Proposals carry whole blocks, so this bounds the block size."""

HASH_LENGTH = 32
SEAL_LENGTH = 96
SIGNATURE_LENGTH = 65
MAX_UINT64 = 2**64 - 1
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class MessageKind(IntEnum):
    """The QBFT message types (PROPOSAL is QBFT's PRE-PREPARE)."""

    PROPOSAL = 1
    PREPARE = 2
    COMMIT = 3
    ROUND_CHANGE = 4


@dataclass(frozen=True, slots=True)
class Proposal:
    """The proposer of (height, round) offers a block."""

    kind: ClassVar[MessageKind] = MessageKind.PROPOSAL
    height: int
    round: int
    block_hash: bytes
    """32-byte hash of ``block`` as the node computes it; consensus votes on this."""
    block: bytes
    """The opaque RLP-encoded block; consensus never decodes it."""
    justification: tuple[bytes, ...] = ()
    """For round > 0: a quorum of raw ROUND-CHANGEs for this round (attachments stripped), plus the
    raw PREPAREs of the highest prepared certificate among them, if any. Empty for round 0."""


@dataclass(frozen=True, slots=True)
class Prepare:
    """The sender validated the proposal of (height, round) with this hash."""

    kind: ClassVar[MessageKind] = MessageKind.PREPARE
    height: int
    round: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class Commit:
    """The sender saw a quorum of PREPAREs for this hash in this round and locked on it."""

    kind: ClassVar[MessageKind] = MessageKind.COMMIT
    height: int
    round: int
    block_hash: bytes
    seal: bytes
    """96-byte BLS signature over ``certificate.seal_message(chain_id, height, round, block_hash)``."""


@dataclass(frozen=True, slots=True)
class RoundChange:
    """The sender moves to ``round`` and reports what it prepared so far at this height."""

    kind: ClassVar[MessageKind] = MessageKind.ROUND_CHANGE
    height: int
    round: int
    prepared_round: int | None = None
    """Round of the sender's latest prepared certificate, or None if it prepared nothing."""
    prepared_block_hash: bytes = b""
    """Hash of the prepared block (empty iff prepared_round is None)."""
    prepared_block: bytes = b""
    """Attachment: the prepared block, so the next proposer can re-propose it."""
    prepared_certificate: tuple[bytes, ...] = ()
    """Attachment: a quorum of raw signed PREPAREs for (height, prepared_round, prepared_block_hash)."""


Payload = Proposal | Prepare | Commit | RoundChange


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A payload with its recovered sender and the exact bytes it arrived as."""

    payload: Payload
    sender: bytes
    """20-byte address the signature recovers to."""
    signature: bytes
    """65-byte recoverable secp256k1 signature."""
    raw: bytes
    """The wire encoding; relayed as is (justifications, certificates, rebroadcasts)."""

    @property
    def kind(self) -> MessageKind:
        return self.payload.kind

    @property
    def height(self) -> int:
        return self.payload.height

    @property
    def round(self) -> int:
        return self.payload.round

    @property
    def block_hash(self) -> bytes:
        """The block a PROPOSAL, PREPARE or COMMIT is about; empty for a ROUND-CHANGE."""
        return b"" if isinstance(self.payload, RoundChange) else self.payload.block_hash

    @property
    def proposal(self) -> Proposal:
        """The payload of a PROPOSAL; a caller that has not checked the kind gets a TypeError."""
        return _expect(self.payload, Proposal)

    @property
    def commit(self) -> Commit:
        """The payload of a COMMIT; a caller that has not checked the kind gets a TypeError."""
        return _expect(self.payload, Commit)

    @property
    def round_change(self) -> RoundChange:
        """The payload of a ROUND-CHANGE; a caller that has not checked the kind gets a TypeError."""
        return _expect(self.payload, RoundChange)


_P = TypeVar("_P", Proposal, Prepare, Commit, RoundChange)


def _expect(payload: Payload, kind: type[_P]) -> _P:
    if not isinstance(payload, kind):
        raise TypeError(f"expected a {kind.__name__}, got a {type(payload).__name__}")
    return payload


def _core(payload: Payload) -> list[Any]:
    if isinstance(payload, Proposal):
        return [payload.height, payload.round, payload.block_hash, payload.block, list(payload.justification)]
    if isinstance(payload, Prepare):
        return [payload.height, payload.round, payload.block_hash]
    if isinstance(payload, Commit):
        return [payload.height, payload.round, payload.block_hash, payload.seal]
    if isinstance(payload, RoundChange):
        prepared = [] if payload.prepared_round is None else [payload.prepared_round, payload.prepared_block_hash]
        return [payload.height, payload.round, prepared]
    raise TypeError(f"not a consensus payload: {type(payload).__name__}")


def _attachments(payload: Payload) -> list[Any]:
    if isinstance(payload, RoundChange):
        return [payload.prepared_block, list(payload.prepared_certificate)]
    return []


def signing_hash(payload: Payload, chain_id: int) -> bytes:
    """The 32-byte digest a sender signs: domain, chain id and the RLP of kind and core."""
    return keccak(DOMAIN + chain_id.to_bytes(8, "big") + rlp.encode([int(payload.kind), _core(payload)]))


def sign(payload: Payload, chain_id: int, private_key: bytes) -> SignedMessage:
    """Sign ``payload`` with a 32-byte secp256k1 key (deterministic, RFC 6979, low s)."""
    _check_payload(payload)
    key, sender = _signer(private_key)
    signature = key.sign_recoverable(signing_hash(payload, chain_id), hasher=None)
    raw = rlp.encode([int(payload.kind), _core(payload), _attachments(payload), signature])
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"message is {len(raw)} bytes, limit {MAX_MESSAGE_BYTES}")
    return SignedMessage(payload=payload, sender=sender, signature=signature, raw=raw)


@lru_cache(maxsize=16)
def _signer(private_key: bytes) -> tuple[PrivateKey, bytes]:
    """The key object and address of a private key: building them derives the public key (an EC
    multiplication), which a validator signing two or three messages per block need do only once."""
    key = PrivateKey(private_key)
    return key, keccak(key.public_key.format(compressed=False)[1:])[-20:]


def without_attachments(message: SignedMessage) -> SignedMessage:
    """The same signed ROUND-CHANGE without its block and certificate (still validly signed)."""
    payload = message.payload
    if not isinstance(payload, RoundChange):
        return message
    stripped = RoundChange(payload.height, payload.round, payload.prepared_round, payload.prepared_block_hash)
    raw = rlp.encode([int(stripped.kind), _core(stripped), _attachments(stripped), message.signature])
    return SignedMessage(payload=stripped, sender=message.sender, signature=message.signature, raw=raw)


MAX_MEMOISED_BYTES = 2048
"""Messages up to this size (votes, stripped ROUND-CHANGEs) are memoised by decode; never blocks."""


def decode(raw: bytes, chain_id: int) -> SignedMessage:
    """Parse and authenticate a wire message; raise InvalidMessage with the exact defect.

    Checks the size before parsing, then RLP shape, canonical integers, field lengths, the kind's
    structural rules, and finally recovers the sender from a canonical (low-s) signature. Whether
    the sender is a validator, and everything else that needs state, is the state machine's job.

    Small messages are memoised: the same PREPAREs arrive inside every ROUND-CHANGE's certificate
    and every justification, and decoding is a pure function of the bytes.
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise InvalidMessage(f"message must be bytes, got {type(raw).__name__}")
    if len(raw) <= MAX_MEMOISED_BYTES:
        return _decode_small(bytes(raw), chain_id)
    return _decode(bytes(raw), chain_id)


DECODED_MESSAGES_KEPT = 1024
"""Small messages kept decoded (about 550 bytes each). Repeats come within a height (PREPAREs inside
ROUND-CHANGE certificates and justifications), so a hundred heights' worth is plenty; at 8192 the memo
took a quarter of an hour to fill, which a soak saw as growth (issue 26)."""


@lru_cache(maxsize=DECODED_MESSAGES_KEPT)
def _decode_small(raw: bytes, chain_id: int) -> SignedMessage:
    return _decode(raw, chain_id)


def _decode(raw: bytes, chain_id: int) -> SignedMessage:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"message is {len(raw)} bytes, limit {MAX_MESSAGE_BYTES}")
    try:
        items = rlp.decode(raw, strict=True)
    except rlp.exceptions.RLPException as error:
        raise InvalidMessage(f"not valid RLP: {error}") from None
    except RecursionError:  # lists nested past the interpreter's recursion limit (node/recursion.py)
        raise InvalidMessage("not valid RLP: lists nested too deeply") from None
    if not isinstance(items, list) or len(items) != 4:
        raise InvalidMessage("expected an RLP list [kind, core, attachments, signature]")
    kind_item, core, attachments, signature = items
    kind_number = _uint(kind_item, "kind")
    try:
        kind = MessageKind(kind_number)
    except ValueError:
        raise InvalidMessage(f"unknown message kind {kind_number}") from None
    if not isinstance(core, list):
        raise InvalidMessage("core: expected a list")
    if not isinstance(attachments, list):
        raise InvalidMessage("attachments: expected a list")
    payload = _PARSERS[kind](core, attachments)
    _check_payload(payload)
    sender = _recover_sender(_bytes(signature, "signature"), signing_hash(payload, chain_id))
    return SignedMessage(payload=payload, sender=sender, signature=signature, raw=raw)


def _recover_sender(signature: bytes, digest: bytes) -> bytes:
    if len(signature) != SIGNATURE_LENGTH:
        raise InvalidMessage(f"signature: expected {SIGNATURE_LENGTH} bytes, got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    recovery_id = signature[64]
    if recovery_id > 1:
        raise InvalidMessage(f"signature: recovery id {recovery_id} not in {{0, 1}}")
    if not 0 < r < SECP256K1_ORDER:
        raise InvalidMessage("signature: r out of range")
    if not 0 < s <= SECP256K1_ORDER // 2:
        raise InvalidMessage("signature: s is zero or in the upper half of the curve order (non-canonical)")
    try:
        public_key = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception:  # coincurve raises a bare Exception when no key recovers
        raise InvalidMessage("signature: no public key recovers from it") from None
    return keccak(public_key.format(compressed=False)[1:])[-20:]


def _bytes(item: object, name: str) -> bytes:
    if not isinstance(item, bytes):
        raise InvalidMessage(f"{name}: expected a byte string, got a list")
    return item


def _uint(item: object, name: str) -> int:
    value = _bytes(item, name)
    if value[:1] == b"\x00":
        raise InvalidMessage(f"{name}: integer has a leading zero byte (non-canonical)")
    if len(value) > 8:
        raise InvalidMessage(f"{name}: integer is {len(value)} bytes, limit 8")
    return int.from_bytes(value, "big")


def _hash(item: object, name: str) -> bytes:
    value = _bytes(item, name)
    if len(value) != HASH_LENGTH:
        raise InvalidMessage(f"{name}: expected {HASH_LENGTH} bytes, got {len(value)}")
    return value


def _raw_list(item: object, name: str) -> tuple[bytes, ...]:
    if not isinstance(item, list):
        raise InvalidMessage(f"{name}: expected a list")
    return tuple(_bytes(element, f"{name}[{index}]") for index, element in enumerate(item))


def _arity(items: list[Any], expected: int, name: str) -> None:
    if len(items) != expected:
        raise InvalidMessage(f"{name}: expected {expected} items, got {len(items)}")


def _no_attachments(attachments: list[Any], kind: str) -> None:
    if attachments:
        raise InvalidMessage(f"{kind} carries attachments; only ROUND-CHANGE may")


def _parse_proposal(core: list[Any], attachments: list[Any]) -> Proposal:
    _arity(core, 5, "proposal core")
    _no_attachments(attachments, "PROPOSAL")
    return Proposal(height=_uint(core[0], "height"), round=_uint(core[1], "round"),
                    block_hash=_hash(core[2], "block_hash"), block=_bytes(core[3], "block"),
                    justification=_raw_list(core[4], "justification"))


def _parse_prepare(core: list[Any], attachments: list[Any]) -> Prepare:
    _arity(core, 3, "prepare core")
    _no_attachments(attachments, "PREPARE")
    return Prepare(height=_uint(core[0], "height"), round=_uint(core[1], "round"),
                   block_hash=_hash(core[2], "block_hash"))


def _parse_commit(core: list[Any], attachments: list[Any]) -> Commit:
    _arity(core, 4, "commit core")
    _no_attachments(attachments, "COMMIT")
    seal = _bytes(core[3], "seal")
    if len(seal) != SEAL_LENGTH:
        raise InvalidMessage(f"seal: expected {SEAL_LENGTH} bytes, got {len(seal)}")
    return Commit(height=_uint(core[0], "height"), round=_uint(core[1], "round"),
                  block_hash=_hash(core[2], "block_hash"), seal=seal)


def _parse_round_change(core: list[Any], attachments: list[Any]) -> RoundChange:
    _arity(core, 3, "round change core")
    _arity(attachments, 2, "round change attachments")
    prepared = core[2]
    if not isinstance(prepared, list):
        raise InvalidMessage("prepared: expected a list [] or [round, block_hash]")
    if prepared:
        _arity(prepared, 2, "prepared")
        prepared_round: int | None = _uint(prepared[0], "prepared_round")
        prepared_block_hash = _hash(prepared[1], "prepared_block_hash")
    else:
        prepared_round, prepared_block_hash = None, b""
    return RoundChange(height=_uint(core[0], "height"), round=_uint(core[1], "round"),
                       prepared_round=prepared_round, prepared_block_hash=prepared_block_hash,
                       prepared_block=_bytes(attachments[0], "prepared_block"),
                       prepared_certificate=_raw_list(attachments[1], "prepared_certificate"))


_PARSERS: dict[MessageKind, Callable[[list[Any], list[Any]], Payload]] = {
    MessageKind.PROPOSAL: _parse_proposal,
    MessageKind.PREPARE: _parse_prepare,
    MessageKind.COMMIT: _parse_commit,
    MessageKind.ROUND_CHANGE: _parse_round_change,
}


def _check_payload(payload: Payload) -> None:
    """Structural rules that hold for every valid payload, whether signed here or received."""
    for name in ("height", "round"):
        value = getattr(payload, name)
        if not isinstance(value, int) or not 0 <= value <= MAX_UINT64:
            raise InvalidMessage(f"{name}: {value!r} is not an unsigned 64-bit integer")
    if isinstance(payload, (Proposal, Prepare, Commit)) and len(payload.block_hash) != HASH_LENGTH:
        raise InvalidMessage(f"block_hash: expected {HASH_LENGTH} bytes, got {len(payload.block_hash)}")
    if isinstance(payload, Proposal):
        if not payload.block:
            raise InvalidMessage("proposal: block is empty")
        if payload.round == 0 and payload.justification:
            raise InvalidMessage("proposal: a round-0 proposal must not carry a justification")
        if payload.round > 0 and not payload.justification:
            raise InvalidMessage(f"proposal: round {payload.round} proposal has no justification")
    if isinstance(payload, Commit) and len(payload.seal) != SEAL_LENGTH:
        raise InvalidMessage(f"seal: expected {SEAL_LENGTH} bytes, got {len(payload.seal)}")
    if isinstance(payload, RoundChange):
        if payload.round == 0:
            raise InvalidMessage("round change: round 0 cannot be changed to")
        if payload.prepared_round is None:
            if payload.prepared_block_hash or payload.prepared_block or payload.prepared_certificate:
                raise InvalidMessage("round change: prepared block or certificate without a prepared round")
        else:
            if not isinstance(payload.prepared_round, int) or not 0 <= payload.prepared_round < payload.round:
                raise InvalidMessage(
                    f"round change: prepared round {payload.prepared_round} is not below round {payload.round}")
            if len(payload.prepared_block_hash) != HASH_LENGTH:
                raise InvalidMessage(
                    f"round change: prepared_block_hash is {len(payload.prepared_block_hash)} bytes, expected 32")
