"""py-evm's transaction executor without the log messages it builds for nobody.

py-evm 0.12.1b1 writes its DEBUG2 traces as f-strings passed to
``logger.debug2``. The call is a no-op unless DEBUG2 is on, but the f-string
is built first: for every transaction ``build_evm_message`` hex-encodes the
whole contract code, hashes the call data and ``repr``s the transaction, and
``finalize_computation`` hex-encodes the sender and the coinbase. On an
ERC-20 transfer that was about a tenth of the executor's time, and
``VMState.logger`` looked the logger up by name on every use on top.

:class:`QuietTransactionExecutor` carries the same steps in the same order,
and builds a trace only when DEBUG2 is on. ``finalize_computation`` also takes
the gas price from the transaction context ``build_computation`` made (kept on
the computation) instead of building a second one, and it skips paying a
zero fee to the coinbase, which would only create an empty coinbase for
EIP-161 to delete in the same transaction.
**Re-check it against py-evm's
``CancunTransactionExecutor.build_evm_message`` and the Frontier and
SpuriousDragon ``finalize_computation`` when py-evm is upgraded.** The fork
hooks (``calc_message_refund``, ``get_code_at_address``, ``calc_data_fee``,
``calculate_gas_refund``, ``calc_data_floor_gas``) stay the fork's own, so
the mixin serves Cancun and Prague alike.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from eth._utils.address import generate_contract_address
from eth.abc import ComputationAPI, MessageAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS
from eth.typing import JournalDBCheckpoint
from eth.vm.forks.berlin.state import BerlinTransactionExecutor
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.state import CancunState, CancunTransactionExecutor
from eth.vm.forks.cancun.transactions import BlobTransaction
from eth.vm.forks.frontier.state import FrontierTransactionExecutor
from eth.vm.forks.london.state import LondonState
from eth.vm.forks.prague.state import PragueTransactionExecutor
from eth.vm.forks.spurious_dragon._utils import THREE as RIPEMD160_ADDRESS
from eth.vm.forks.spurious_dragon._utils import collect_touched_accounts
from eth.vm.message import Message
from eth.vm.state import BaseState
from eth.vm.transaction_context import BaseTransactionContext
from eth_typing import Hash32
from eth_utils import encode_hex, keccak
from eth_utils.logging import DEBUG2_LEVEL_NUM, ExtendedDebugLogger, get_extended_debug_logger

from vm import frames
from vm.encoding import is_uint
from vm.transaction_checks import below, intrinsic_gas, resolved, run_checks


@functools.cache
def _state_logger(class_name: str) -> ExtendedDebugLogger:
    return get_extended_debug_logger(f"eth.vm.state.{class_name}")


class CachedStateLogger:
    """State mixin: ``logger`` is looked up once per class, not by name on every use.

    ``logging.getLogger`` returns the same object for the same name, so this is
    the logger py-evm's property would return.
    """

    @property
    def logger(self) -> ExtendedDebugLogger:
        return _state_logger(type(self).__name__)


if TYPE_CHECKING:
    # What the mixins are mixed into, so that mypy checks their use of the bases' attributes.
    _Executor = BerlinTransactionExecutor
    _State = CancunState
else:
    _Executor = _State = object


class FlatSnapshots(_State):
    """State mixin: Cancun's ``snapshot`` and ``commit`` in one frame each.

    py-evm takes a snapshot for every message frame through three layers
    (Cancun's, then the base state's, whose state root goes through the
    state and account-DB properties and the hashing trie's attribute
    forwarding), and commits it through two. These are the same steps on the
    same objects: the account DB's state root, its checkpoint, the transient
    storage's checkpoint; a revert stays py-evm's. Only for a state class
    whose ``snapshot`` and ``commit`` are otherwise Cancun's (checked when the
    class is made).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        after = below(cls, FlatSnapshots)
        for name in ("snapshot", "commit"):
            if resolved(after, name) is not getattr(CancunState, name):
                raise TypeError(f"{cls.__name__}.{name} is not Cancun's: FlatSnapshots does not apply")

    def snapshot(self) -> tuple[Hash32, JournalDBCheckpoint]:
        account_db = self._account_db
        state_root = account_db.state_root
        checkpoint = account_db.record()
        self.transient_storage.record(checkpoint)
        return state_root, checkpoint

    def commit(self, snapshot: tuple[Hash32, JournalDBCheckpoint]) -> None:
        checkpoint = snapshot[1]
        self._account_db.commit(checkpoint)
        self.transient_storage.commit(checkpoint)


class QuietTransactionExecutor(_Executor):
    """Executor mixin: py-evm's message building and finalisation, tracing only when DEBUG2 is on."""

    vm_state: Any

    #: Whether ``build_computation`` is otherwise Berlin's over Frontier's (set per class).
    _flat_build = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        after = below(cls, QuietTransactionExecutor)
        cls._flat_build = (
            resolved(after, "build_computation") is BerlinTransactionExecutor.build_computation
            and resolved(BerlinTransactionExecutor.__mro__[1:], "build_computation")
            is FrontierTransactionExecutor.build_computation
        )

    def _tracing(self) -> bool:
        return bool(self.vm_state.logger.isEnabledFor(DEBUG2_LEVEL_NUM))

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        """Frontier's: ``transaction.validate()``, then the state's checks.

        Skipped for a transaction the block builder has just checked the same
        way (``vm.fast_path.ValidatedOnce``); run in one pass where the state
        can (``vm.transaction_checks``).
        """
        state = self.vm_state
        take_validated = getattr(state, "take_validated", None)
        if take_validated is None or not take_validated(transaction):
            run_checks(state, transaction)

    def build_evm_message(self, transaction: SignedTransactionAPI) -> MessageAPI:
        state = self.vm_state
        london_gas_fee = transaction.gas * state.get_gas_price(transaction)
        blob_data_fee = (
            self.calc_data_fee(cast(BlobTransaction, transaction))  # type: ignore[attr-defined]  # Cancun executor's
            if transaction.type_id == BLOB_TX_TYPE
            else 0
        )
        # A zero charge (every Settle transaction: gas is free) changes nothing that
        # increment_nonce does not: it writes the same account next, in the same
        # checkpoint, creating it if it was missing, as a zero balance write would.
        if london_gas_fee or blob_data_fee:
            state.delta_balance(transaction.sender, -1 * (london_gas_fee + blob_data_fee))
        state.increment_nonce(transaction.sender)

        msg_refund = self.calc_message_refund(transaction)  # type: ignore[attr-defined]  # Prague executor's
        message_gas = transaction.gas - intrinsic_gas(transaction)

        if transaction.to == CREATE_CONTRACT_ADDRESS:
            contract_address = generate_contract_address(
                transaction.sender, state.get_nonce(transaction.sender) - 1
            )
            data = b""
            code = transaction.data
            is_delegation = False
        else:
            contract_address = None
            data = transaction.data
            code, delegation_address = self.get_code_at_address(transaction.to)  # type: ignore[attr-defined]  # Prague's
            is_delegation = delegation_address is not None

        if self._tracing():
            state.logger.debug2(
                f"TRANSACTION: {repr(transaction)}; "
                f"sender: {encode_hex(transaction.sender)} | "
                f"to: {encode_hex(transaction.to)} | "
                f"data-hash: {encode_hex(keccak(transaction.data))} | "
                f"gas: {transaction.gas} | "
                f"code: {encode_hex(code)} | "
            )

        to, sender, value = transaction.to, transaction.sender, transaction.value
        if contract_address is None and _valid_call(message_gas, to, sender, value, data, code):
            return frames.call_message(message_gas, to, sender, value, data, code, msg_refund, is_delegation)
        return Message(
            gas=message_gas,
            to=to,
            sender=sender,
            value=value,
            data=data,
            code=code,
            create_address=contract_address,  # type: ignore[arg-type]  # None for a call, Message's own default
            refund=msg_refund,
            is_delegation=is_delegation,
        )

    def build_computation(self, message: MessageAPI, transaction: SignedTransactionAPI) -> ComputationAPI:
        """Berlin's then Frontier's ``build_computation``, in one frame, for a call that is not a blob transaction.

        The transaction context is London's (the effective gas price, which is
        the state's ``get_gas_price``, and the sender), built by
        :func:`vm.frames.transaction_context`, when the state makes it that
        way (:func:`_london_context_class`). Creations and blob transactions
        (whose context carries the blob hashes) go through py-evm's.
        """
        state = self.vm_state
        # Classes are hashable; mypy's Hashable check misses type[Any].
        context_class = _london_context_class(type(state)) if self._flat_build else None  # type: ignore[arg-type]
        if context_class is None or message.is_create or transaction.type_id == BLOB_TX_TYPE:
            return super().build_computation(message, transaction)
        sender = transaction.sender
        gas_price = state.get_gas_price(transaction)
        if not (is_uint(gas_price) and type(sender) is bytes and len(sender) == 20):
            return super().build_computation(message, transaction)
        state.mark_address_warm(sender)
        state.mark_address_warm(message.storage_address)
        for address, slots in transaction.access_list:
            state.mark_address_warm(address)
            for slot in slots:
                state.mark_storage_warm(address, slot)
        context = frames.transaction_context(context_class, gas_price, sender)
        return state.computation_class.apply_message(state, message, context)

    def finalize_computation(
        self, transaction: SignedTransactionAPI, computation: ComputationAPI
    ) -> ComputationAPI:
        state = self.vm_state
        tracing = self._tracing()

        # FrontierTransactionExecutor.finalize_computation. py-evm builds the
        # transaction context again here, only for its gas price; the one
        # build_computation made from the same transaction and state is on the
        # computation (an override_transaction_context covers both).
        gas_price = computation.transaction_context.gas_price
        gas_remaining = computation.get_gas_remaining()
        gas_used = transaction.gas - gas_remaining
        gas_refund = self.calculate_gas_refund(computation, gas_used)
        computation.data_floor_gas = self.calc_data_floor_gas(
            transaction, gas_used, gas_refund
        )
        gas_refund_amount = (
            gas_refund + gas_remaining - computation.data_floor_gas
        ) * gas_price
        if gas_refund_amount:
            if tracing:
                state.logger.debug2(
                    f"TRANSACTION REFUND: {gas_refund_amount} -> {encode_hex(computation.msg.sender)}"
                )
            state.delta_balance(computation.msg.sender, gas_refund_amount)

        gas_used = transaction.gas - gas_remaining - gas_refund + computation.data_floor_gas
        transaction_fee = gas_used * state.get_tip(transaction)
        if tracing:
            state.logger.debug2(f"TRANSACTION FEE: {transaction_fee} -> {encode_hex(state.coinbase)}")
        # A zero fee (every Settle transaction) changes nothing: an existing
        # coinbase keeps its balance, and a missing one would be created empty
        # only for the EIP-161 clearing below (the coinbase is always touched)
        # to delete it again in the same transaction.
        if transaction_fee:
            state.delta_balance(state.coinbase, transaction_fee)

        for account in _accounts_for_deletion(computation):
            if tracing:
                state.logger.debug2(f"DELETING ACCOUNT: {encode_hex(account)}")
            state.delete_account(account)

        # SpuriousDragonTransactionExecutor.finalize_computation: EIP-161 state clearing
        for account in _touched_accounts(computation):
            if state.account_exists(account) and state.account_is_empty(account):
                if tracing:
                    state.logger.debug2(f"CLEARING EMPTY ACCOUNT: {encode_hex(account)}")
                state.delete_account(account)
        return computation


def _valid_call(gas: Any, to: Any, sender: Any, value: Any, data: Any, code: Any) -> bool:
    """Whether ``Message``'s checks of a depth-0 call would pass (they always do for a valid transaction)."""
    return (is_uint(gas) and type(to) is bytes and len(to) == 20 and type(sender) is bytes and len(sender) == 20
            and is_uint(value) and type(data) is bytes and type(code) is bytes)


@functools.cache
def _london_context_class(state_class: type) -> type | None:
    """The state's transaction-context class, if its ``get_transaction_context`` is Cancun's over London's.

    That context is ``transaction_context_class(gas_price=min(tip + base fee,
    max fee), origin=sender)``, plus the blob hashes of a blob transaction;
    its gas price is London's ``get_gas_price``, required here too. None for
    any other state.
    """
    mro = state_class.__mro__
    if not (
        resolved(mro, "get_gas_price") is LondonState.get_gas_price
        and resolved(mro, "get_transaction_context") is CancunState.get_transaction_context
        and resolved(CancunState.__mro__[1:], "get_transaction_context") is LondonState.get_transaction_context
        and resolved(mro, "get_transaction_context_class") is vars(BaseState)["get_transaction_context_class"]
    ):
        return None
    context_class = state_class.transaction_context_class  # type: ignore[attr-defined]  # set on concrete states
    if not (isinstance(context_class, type) and issubclass(context_class, BaseTransactionContext)
            and resolved(context_class.__mro__, "__init__") is BaseTransactionContext.__init__):
        return None
    return context_class


def _is_single_frame(computation: ComputationAPI) -> bool:
    """No child calls, no SELFDESTRUCT: the common transaction, whose two walks below have nothing to walk."""
    return not (computation.children or computation.accounts_to_delete
                or computation.beneficiaries)


def _accounts_for_deletion(computation: ComputationAPI) -> Any:
    """``computation.get_accounts_for_deletion()``: nothing, for a single frame."""
    return () if _is_single_frame(computation) else computation.get_accounts_for_deletion()


def _touched_accounts(computation: ComputationAPI) -> Any:
    """``collect_touched_accounts(computation)``, written out for a single frame.

    That function yields the coinbase, the self-destruct beneficiaries (none
    here), the callee unless the frame failed (the RIPEMD-160 precompile even
    then, EIP-716) and then walks the children (none here). The result is a
    set, as py-evm's.
    """
    if not _is_single_frame(computation):
        return collect_touched_accounts(computation)
    touched = {computation.state.coinbase}
    to = computation.msg.to
    if to != CREATE_CONTRACT_ADDRESS and (not computation.is_error or to == RIPEMD160_ADDRESS):
        touched.add(to)
    return touched


class SettlePragueTransactionExecutor(QuietTransactionExecutor, PragueTransactionExecutor):
    """Prague's executor, quiet."""


class SettleCancunTransactionExecutor(QuietTransactionExecutor, CancunTransactionExecutor):
    """Cancun's executor, quiet (for the official state tests)."""
