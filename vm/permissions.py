"""Permissioning as consensus rules: who may send, who may create contracts.

The permission registry (``contracts/src/permissions/PermissionRegistry.sol``,
docs/permissioning.md) lives in the state at ``permissions.registryAddress``.
The VM reads two of its storage slots directly (no EVM call, a few
microseconds): ``roles[account]`` (slot 0, a mapping of role bits) and the two
open flags packed in slot 1. Because the rules run in the VM, on the proposer's
block building and on every validator's re-execution alike, a block holding a
forbidden transaction does not re-execute: honest validators refuse to
PREPARE it.

The rules:

1. **Members send.** A transaction whose sender is not a member (and
   membership is not open) is invalid.
2. **Deployers create.** A contract-creation transaction whose sender is not a
   deployer (and deployment is not open) is invalid.
3. **Factories create on behalf of a deployer only.** A ``CREATE`` or
   ``CREATE2`` run by a contract succeeds only if the transaction's origin
   (``tx.origin``) may deploy; otherwise that creation frame fails (all its gas
   is consumed, the opcode pushes 0), as any failed creation does, and the
   calling contract sees the failure. The origin, not the factory, is who the
   rule looks at: a factory cannot launder a non-deployer's creation, and a
   deployer may use any factory.

A registry address without code (a genesis that put nothing there) enforces
nothing: every key may send and create.

The registry itself refuses a validator key whose BLS proof of possession does
not verify, through Settle's proof-of-possession precompile at
:data:`POP_VERIFIER_ADDRESS` (native blspy, ``PopVerify`` of the IETF POP
ciphersuite).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from blspy import G1Element, G2Element, PopSchemeMPL
from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import VMError
from eth_hash.auto import keccak
from eth_typing import Address

from genesis.model import DEFAULT_REGISTRY_ADDRESS
from genesis.system import DEPLOYER, MEMBER, OPEN_FLAGS_SLOT, ROLES_SLOT, mapping_slot

#: Settle's precompile checking a BLS proof of possession: input key (48 bytes) ++ proof (96 bytes),
#: output a 32-byte word, 1 if the proof verifies for the key, else 0.
POP_VERIFIER_ADDRESS = Address(bytes.fromhex("0000000000000000000000000000000000005e78"))

#: Gas of one proof-of-possession check: a two-pairing check, measured at 2.3 ms with blspy on the
#: shared 2-core reference machine, so 0.016 µs per gas (under vm.precompiles.MAX_MICROSECONDS_PER_GAS).
GAS_POP_VERIFY = 150_000


class PermissionDenied(VMError):
    """A contract creation refused by rule 3: the creation frame fails like any failed creation."""


def registry_active(state: StateAPI, registry: bytes) -> bool:
    """Whether the registry has code, so that its rules apply."""
    return bool(state.get_code_hash(Address(registry)) != _EMPTY_CODE_HASH)


_EMPTY_CODE_HASH = keccak(b"")


def _flags_and_roles(state: StateAPI, registry: bytes, account: bytes) -> tuple[int, int]:
    flags = state.get_storage(Address(registry), OPEN_FLAGS_SLOT)
    roles = state.get_storage(Address(registry), mapping_slot(account, ROLES_SLOT))
    return flags, roles


def is_member(state: StateAPI, registry: bytes, account: bytes) -> bool:
    """Rule 1: ``account`` may send transactions (always true without a registry)."""
    if not registry_active(state, registry):
        return True
    flags, roles = _flags_and_roles(state, registry, account)
    return bool(flags & 0xFF) or bool(roles & MEMBER)


def is_deployer(state: StateAPI, registry: bytes, account: bytes) -> bool:
    """Rules 2 and 3: ``account`` may create contracts (a member, and a deployer unless deployment is open)."""
    if not registry_active(state, registry):
        return True
    flags, roles = _flags_and_roles(state, registry, account)
    member = bool(flags & 0xFF) or bool(roles & MEMBER)
    return member and (bool((flags >> 8) & 0xFF) or bool(roles & DEPLOYER))


def refusal(state: StateAPI, registry: bytes, sender: bytes, creates: bool) -> str | None:
    """Why a transaction from ``sender`` (a creation if ``creates``) is forbidden, or None.

    The message is the one the mempool answers with (-32000) and the one a
    rejected block names.
    """
    if not is_member(state, registry, sender):
        return f"sender 0x{sender.hex()} is not a member"
    if creates and not is_deployer(state, registry, sender):
        return f"sender 0x{sender.hex()} may not deploy contracts"
    return None


def pop_verify_precompile(computation: ComputationAPI) -> ComputationAPI:
    """The proof-of-possession precompile: 1 if ``data[:48]``'s proof ``data[48:144]`` verifies, else 0."""
    computation.consume_gas(GAS_POP_VERIFY, reason="BLS proof of possession")
    data = computation.msg.data_as_bytes
    ok = len(data) == 144 and possession_proven(bytes(data[:48]), bytes(data[48:]))
    computation.output = (1 if ok else 0).to_bytes(32, "big")
    return computation


@lru_cache(maxsize=256)
def possession_proven(public_key: bytes, proof: bytes) -> bool:
    """IETF ``PopVerify`` (blspy, native) of a 48-byte G1 key and a 96-byte proof; False for junk or identity."""
    try:
        key = G1Element.from_bytes(public_key)
        signature = G2Element.from_bytes(proof)
    except (ValueError, RuntimeError):
        return False
    if key == G1Element():
        return False
    return bool(PopSchemeMPL.pop_verify(key, signature))


class PermissionedCreates:
    """Computation mixin enforcing rule 3 on every creation frame below the transaction's own.

    ``permission_registry`` is set per network (:func:`vm.chain.chain_class_for`).
    """

    permission_registry: bytes = DEFAULT_REGISTRY_ADDRESS

    @classmethod
    def apply_create_message(
        cls,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        origin = transaction_context.origin
        if message.depth > 0 and not is_deployer(state, cls.permission_registry, origin):
            computation: Any = cls(state, message, transaction_context)  # type: ignore[call-arg]
            with computation:
                raise PermissionDenied(f"origin 0x{origin.hex()} may not deploy contracts")
            return computation
        return super().apply_create_message(  # type: ignore[misc]
            state, message, transaction_context, parent_computation
        )
