"""Settle's fork: Prague execution with consortium header rules.

Settle runs Prague, the newest fork py-evm 0.12.1b1 supports, with three changes
to the header rules, two to execution's DoS bounds and one precompile added;
everything else stays bit-for-bit Ethereum's:

* **Base fee is always 0.** EIP-1559 would raise the base fee by at least 1 wei
  after any block above its gas target, even from 0. A consortium chain does not
  charge for gas, so the base fee is pinned at 0 and a header with any other
  value is invalid. Gas is still metered, for DoS bounds, against the block gas
  limit from genesis.
* **PREVRANDAO** (the header's ``mix_hash``) is derived from the parent block, see
  :func:`prevrandao_for`, and checked on import. There is no beacon chain to
  supply randomness, and a proposer must not be free to choose it.
* **Timestamps may repeat.** A child's timestamp must be at least its parent's,
  not strictly later. Header timestamps are whole seconds and a BFT network with
  a 200 ms block period commits several blocks per second; with Ethereum's
  strict rule the chain's clock would run ahead of the wall clock by up to
  0.8 s every block. ``block.timestamp`` stays monotonic for contracts.

* **A per-transaction gas cap** (the genesis ``maxTransactionGas``, by default
  half the block gas limit): a block holding a transaction with a higher gas
  limit is invalid, so one transaction cannot cost every validator more than
  that (as EIP-7825 does from Osaka on, with its own cap).
* **bn128 precompiles repriced** so that gas bounds time in py-evm's pure-Python
  implementation (:mod:`vm.precompiles`, with the measured costs).
* **The matching engine** precompile at
  :data:`vm.matching.precompile.MATCHING_ADDRESS`, on both paths, whose state is
  consensus state (:mod:`vm.matching.state`; docs/matching.md).
* **Permissioning** (:mod:`vm.permissions`, docs/permissioning.md): a transaction
  from a non-member, or a creation by a non-deployer, is invalid; a contract's
  CREATE fails unless ``tx.origin`` may deploy; and the BLS proof-of-possession
  precompile at :data:`vm.permissions.POP_VERIFIER_ADDRESS`, which the permission
  registry uses to refuse a rogue validator key.

Difficulty 0, nonce 0 and the empty-ommers hash follow the post-merge rules
py-evm already enforces. ``parent_beacon_block_root`` is the zero hash: the
EIP-4788 and EIP-2935 system contracts are not in Settle's genesis, and py-evm
skips their system calls when the code is absent.
"""
from __future__ import annotations

from typing import Any

from eth.abc import BlockHeaderAPI, SignedTransactionAPI
from eth.validation import validate_gas_limit
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.state import CancunState
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.headers import create_prague_header_from_parent
from eth.vm.forks.prague.state import PragueState
from eth.vm.state import BaseState
from eth_hash.auto import keccak
from eth_utils import ValidationError

from vm.account_db import SettleAccountDB
from vm.copies import SettleCancunBlock, SettlePragueBlock
from vm.executor import (
    CachedStateLogger,
    FlatSnapshots,
    SettleCancunTransactionExecutor,
    SettlePragueTransactionExecutor,
)
from vm.fast_path import FastBlockRules, ValidatedOnce
from vm.interpreter import SettleCancunComputation, SettlePragueComputation
from vm.matching.precompile import MATCHING_ADDRESS, matching_precompile
from vm.matching.state import MatchingState
from vm.permissions import POP_VERIFIER_ADDRESS, PermissionedCreates, pop_verify_precompile, refusal
from vm.precompiles import settle_precompiles
from vm.transaction_checks import OnePassTransactionChecks

#: The fork Solidity must target (``evmVersion``) for code that runs here.
EVM_VERSION = "prague"

ZERO_HASH = b"\x00" * 32


def prevrandao_for(parent_header: BlockHeaderAPI | None, seed: bytes = b"") -> bytes:
    """PREVRANDAO for the child of ``parent_header``.

    ``keccak(parent.mix_hash ++ parent.hash ++ seed)``: it changes every block and
    is fixed once the parent is final, which is all the DUO admin-role assignment
    (whitepaper §2.7.3) asks of it, and the proposer cannot choose it. Settle
    passes no seed: a commit certificate is not unique (any quorum of seals makes
    one), so it cannot feed a value every validator must recompute.
    """
    if parent_header is None:
        return ZERO_HASH
    return keccak(parent_header.mix_hash + parent_header.hash + seed)


def create_settle_header_from_parent(
    parent_header: BlockHeaderAPI | None, **header_params: Any
) -> BlockHeaderAPI:
    """A Prague header whose base fee is 0 and whose gas limit is the parent's."""
    header_params.pop("base_fee_per_gas", None)
    if parent_header is not None:
        header_params.setdefault("gas_limit", parent_header.gas_limit)
        header_params.setdefault("mix_hash", prevrandao_for(parent_header))
    header = create_prague_header_from_parent(parent_header, **header_params)
    return header.copy(base_fee_per_gas=0)


class SettleReferenceComputation(PermissionedCreates, PragueComputation):
    """Prague's computation with Settle's precompile prices (:mod:`vm.precompiles`), the
    matching-engine precompile (:mod:`vm.matching`) and the permission rules
    (:mod:`vm.permissions`), on py-evm's loop."""

    _precompiles = {
        **settle_precompiles(PragueComputation._precompiles),
        MATCHING_ADDRESS: matching_precompile,
        POP_VERIFIER_ADDRESS: pop_verify_precompile,
    }


class SettleMatchingComputation(PermissionedCreates, SettlePragueComputation):
    """The fast loop's Prague computation with the matching-engine precompile and the permission rules."""

    _precompiles = {
        **SettlePragueComputation.get_precompiles(),
        MATCHING_ADDRESS: matching_precompile,
        POP_VERIFIER_ADDRESS: pop_verify_precompile,
    }


class SettleReferenceState(MatchingState, PragueState):
    """Prague's state with :class:`SettleReferenceComputation`, holding the matching engine."""

    computation_class = SettleReferenceComputation


class SettleReferenceVM(PragueVM):
    """PragueVM with the consortium rules described in this module, and nothing else.

    Every block is processed by py-evm's own code: this is the reference that
    :class:`SettleVM`'s faster path is checked against, root for root.
    """

    fork = "settle-prague"
    _state_class: type[BaseState] = SettleReferenceState

    max_transaction_gas: int | None = None
    """Gas limit one transaction may have (the genesis ``maxTransactionGas``, set per
    network by :func:`vm.chain.chain_class_for`); None: only the block gas limit."""

    create_header_from_parent = staticmethod(
        create_settle_header_from_parent
    )

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        if parent_header is None:
            super().validate_header(header, parent_header)  # raises: no parent to check against
            return
        if header.timestamp < parent_header.timestamp:
            raise ValidationError(
                f"timestamp {header.timestamp} is earlier than the parent's {parent_header.timestamp}"
            )
        expected_randao = prevrandao_for(parent_header)
        # Every other rule is Prague's: shift the parent back one second so that
        # its "strictly later" check accepts an equal timestamp.
        super().validate_header(header, parent_header.copy(timestamp=header.timestamp - 1)
                                if header.timestamp == parent_header.timestamp else parent_header)
        if header.mix_hash != expected_randao:
            raise ValidationError(
                f"mix_hash (PREVRANDAO) must be 0x{expected_randao.hex()} "
                f"for this parent, header has 0x{header.mix_hash.hex()}"
            )

    def validate_transaction_against_header(
        self, base_header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> None:
        """Prague's check (the gas left in the block), after the per-transaction gas cap and permissions.

        The cap is a consensus rule: one transaction must not cost every
        validator more than a fixed share of a block (docs/execution.md). So are
        the membership and deployer rules (:mod:`vm.permissions`), read from the
        registry in the state the transaction runs on.
        """
        cap = self.max_transaction_gas
        if cap is not None and transaction.gas > cap:
            raise ValidationError(
                f"transaction gas limit too high (cap: {cap}, tx: {transaction.gas})"
            )
        registry = getattr(self.state.computation_class, "permission_registry", None)
        if registry is not None:
            refused = refusal(self.state, registry, transaction.sender, not transaction.to)
            if refused is not None:
                raise ValidationError(refused)
        super().validate_transaction_against_header(base_header, transaction)

    @classmethod
    def validate_gas(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        validate_gas_limit(header.gas_limit, parent_header.gas_limit)
        if header.base_fee_per_gas != 0:
            raise ValidationError(
                f"base fee must be 0 on a Settle chain, header has {header.base_fee_per_gas}"
            )


class SettlePragueState(MatchingState, CachedStateLogger, FlatSnapshots, ValidatedOnce, PragueState):
    """Prague state on :mod:`vm.interpreter`'s loop, :mod:`vm.executor`'s executor
    and :mod:`vm.account_db`'s accounts, holding the matching engine (:mod:`vm.matching.state`)."""

    computation_class = SettleMatchingComputation
    account_db_class = SettleAccountDB
    transaction_executor_class = SettlePragueTransactionExecutor


class SettleCancunState(CachedStateLogger, FlatSnapshots, OnePassTransactionChecks, CancunState):
    """Cancun state on :mod:`vm.interpreter`'s loop, :mod:`vm.executor`'s executor
    and :mod:`vm.account_db`'s accounts."""

    computation_class = SettleCancunComputation
    account_db_class = SettleAccountDB
    transaction_executor_class = SettleCancunTransactionExecutor


class SettleVM(FastBlockRules, SettleReferenceVM):
    """Settle's fork as the node runs it: the reference rules on the fast path.

    Block processing from :mod:`vm.fast_path`, the interpreter loop from
    :mod:`vm.interpreter`, cheap block copies from :mod:`vm.copies`, the
    account layer of :mod:`vm.account_db` and the executor of :mod:`vm.executor`.
    """

    _state_class = SettlePragueState
    block_class = SettlePragueBlock


class SettleCancunVM(FastBlockRules, CancunVM):
    """Cancun rules on Settle's fast path: runs the official state tests, whose post-states are Cancun's."""

    fork = "settle-cancun"
    _state_class = SettleCancunState
    block_class = SettleCancunBlock
