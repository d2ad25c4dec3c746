"""The ``bft_`` namespace: validators, commit certificates and consensus status.

Names follow Besu's QBFT API (``qbft_getValidatorsByBlockNumber``) under Settle's
prefix. A certificate is returned with its raw encoding and with the fields a
verifier needs, so a client can check finality with only the validator set.
"""
from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from consensus.certificate import CommitCertificate
from consensus.validators import ValidatorSet
from node.backend import Backend
from node.engine import ConsensusEngine
from node.rpc.api import _Namespace, header_param
from node.rpc.format import addr, hexb, qty


def _header(backend: Backend, value: Any):
    """A block number, tag, EIP-1898 object or a bare 32-byte block hash."""
    if isinstance(value, str) and len(value) == 66 and value[:2] in ("0x", "0X"):
        return header_param(backend, {"blockHash": value}, 0)
    return header_param(backend, value, 0)


class BftAPI(_Namespace):
    prefix = "bft"

    def __init__(self, backend: Backend, engine: ConsensusEngine) -> None:
        self.backend = backend
        self.engine = engine
        self.validators = engine.config.validator_set

    def _set_of(self, height: int) -> ValidatorSet:
        """The set that seals block ``height``: the permission registry's after block ``height - 1``."""
        if self.engine.validator_set_at is None:
            return self.validators
        return self.engine.validator_set_at(max(height, 1))

    def getValidatorsByBlockNumber(self, block: Any = "latest") -> list[str]:
        """Addresses of the validators that seal the given block, in proposer order.

        The set of block h is the permission registry's list in the state after
        block h-1: a change decided in block h applies from block h+1.
        """
        header = _header(self.backend, block)
        return [to_checksum_address(v.address) for v in self._set_of(header.block_number).validators]

    def getCertificate(self, block: Any = "latest") -> dict[str, Any] | None:
        """The commit certificate stored with a block; null for block 0."""
        header = _header(self.backend, block)
        raw = self.backend.store.certificate(header.hash)
        if raw is None:
            return None
        certificate = CommitCertificate.decode(raw)
        validators = self._set_of(header.block_number)
        signers = [validators.validators[i] for i in certificate.signer_indices() if i < validators.n]
        return {
            "blockNumber": qty(certificate.height),
            "blockHash": hexb(certificate.block_hash),
            "round": certificate.round,
            "signers": [addr(v.address) for v in signers],
            "signerBitmap": hexb(certificate.signers),
            "aggregateSignature": hexb(certificate.signature),
            "quorum": validators.quorum,
            "raw": hexb(raw),
        }

    def status(self) -> dict[str, Any]:
        """Height, round and step being decided, the proposer, peers and the last commit time."""
        status = self.engine.status()
        return {
            "height": qty(status["height"]),
            "round": status["round"],
            "step": status["step"],
            "proposer": addr(status["proposer"]),
            "peers": status["peers"],
            "lastCommitTime": status["lastCommitTime"],
            "validators": status["validators"],
            "quorum": status["quorum"],
            "head": qty(self.backend.head.block_number),
        }

