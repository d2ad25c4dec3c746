"""The executor's transaction checks, in one pass for the common transaction.

Before a transaction runs, py-evm checks it twice over: the transaction's own
``validate()`` (every field's type and range, through rlp's properties and
``eth.validation``, some forty Python calls) and the state's
``validate_transaction`` (the fee against the base fee, the signature's s,
the sender's balance for gas and value, the nonce, then Cancun's balance
check again). For an ERC-20 transfer that was 5% of building a block.

:func:`passes_checks` answers True only when every one of those checks would
pass, for the shape nearly every Settle transaction has: an EIP-1559 (type 2)
transaction without an access list, whose sender is already recovered, on a
state whose checks are py-evm's Cancun ones (Cancun and Prague). It reads the
fields straight from the rlp object and the sender's balance and nonce once.
For anything else, and for any check that fails, it answers False and the
caller runs py-evm's own checks, which raise py-evm's own error. It may be
stricter than py-evm (an int subclass in a field, say), never looser.
``tests/vm/test_transaction_checks.py`` compares the two on generated
transactions and states.

Reads are the only side effect of either path, and both read the sender's
account: the set of accounts read, which py-evm records for its witness, is
the same.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eth.abc import SignedTransactionAPI
from eth.constants import SECPK1_N, UINT_64_MAX
from eth.vm.forks.berlin.transactions import TypedTransaction
from eth.vm.forks.cancun.state import CancunState
from eth.vm.forks.london.state import LondonState
from eth.vm.forks.london.transactions import DynamicFeeTransaction
from eth.vm.state import BaseState

from vm.encoding import instance_of, is_uint
from vm.senders import dynamic_fee_fields

_HALF_N = SECPK1_N // 2



def resolved(mro: tuple[type, ...], name: str) -> Any:
    """The attribute ``name`` as the first class in ``mro`` that defines it has it (None if none does)."""
    return next((vars(klass)[name] for klass in mro if name in vars(klass)), None)


def below(cls: type, mixin: type) -> tuple[type, ...]:
    """The classes after ``mixin`` in ``cls``'s method resolution order: what the mixin's overrides stand on."""
    return cls.__mro__[cls.__mro__.index(mixin) + 1:]


def has_cancun_checks(mro: tuple[type, ...]) -> bool:
    """Whether a state class with this method resolution order checks transactions as py-evm's Cancun state does."""
    return (
        resolved(mro, "validate_transaction") is CancunState.validate_transaction
        and resolved(CancunState.__mro__[1:], "validate_transaction") is LondonState.validate_transaction
        and resolved(mro, "get_gas_price") is LondonState.get_gas_price
    )


def passes_checks(state: Any, transaction: SignedTransactionAPI) -> bool:
    """True only if ``transaction.validate()`` and a Cancun ``state.validate_transaction`` would both pass.

    ``state`` must have Cancun's checks (:func:`has_cancun_checks`).
    """
    if not instance_of(transaction, TypedTransaction) or type(transaction).validate is not TypedTransaction.validate:
        return False
    inner = transaction._inner  # type: ignore[attr-defined]  # a TypedTransaction, checked above
    sender = vars(transaction).get("sender")
    if type(inner) is not DynamicFeeTransaction or sender is None:
        return False
    chain_id, nonce, tip, max_fee, gas, to, value, data, access_list, y_parity, r, s = dynamic_fee_fields(inner)
    # validate_dynamic_fee_tx, then Homestead's signature rule
    if not (
        is_uint(chain_id) and is_uint(nonce, UINT_64_MAX) and is_uint(tip) and is_uint(max_fee)
        and is_uint(gas) and type(to) is bytes and len(to) in (0, 20) and is_uint(value)
        and type(data) is bytes and type(access_list) is tuple and not access_list
        and is_uint(y_parity, 256) and is_uint(r) and type(s) is int and 0 < s <= _HALF_N
    ):
        return False
    # London's fee rule, Frontier's balance and nonce rules, Cancun's balance rule
    base_fee = state.execution_context.base_fee_per_gas
    if max_fee < base_fee:
        return False
    balance = state.get_balance(sender)
    return (
        balance >= gas * min(max_fee, tip + base_fee) + value
        and balance >= gas * max_fee
        and state.get_nonce(sender) == nonce
    )


#: The transaction :func:`intrinsic_gas` answered for last, and its answer.
_last_intrinsic_gas: tuple[Any, int] = (None, 0)


def intrinsic_gas(transaction: SignedTransactionAPI) -> int:
    """``transaction.intrinsic_gas``, computed once when asked twice in a row for the same object.

    The block builder checks it before applying a transaction, and the
    executor asks again to size the message; py-evm computes it from the
    data and access list each time. A transaction is immutable, so its
    intrinsic gas is fixed; the memo is by identity and holds one entry.
    """
    global _last_intrinsic_gas
    last, gas = _last_intrinsic_gas
    if last is not transaction:
        gas = transaction.intrinsic_gas
        _last_intrinsic_gas = (transaction, gas)
    return gas


def run_checks(state: Any, transaction: SignedTransactionAPI) -> None:
    """The executor's checks on ``state``.

    Its :meth:`~OnePassTransactionChecks.check_transaction`, else py-evm's two.
    """
    check_transaction = getattr(state, "check_transaction", None)
    if check_transaction is not None:
        check_transaction(transaction)
    else:
        transaction.validate()
        state.validate_transaction(transaction)


if TYPE_CHECKING:
    # What the mixin is mixed into, so that mypy checks its use of the state's attributes.
    _State = BaseState
else:
    _State = object


class OnePassTransactionChecks(_State):
    """State mixin: :meth:`check_transaction` runs the executor's checks, in one pass when :func:`passes_checks` can."""

    _one_pass_checks = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._one_pass_checks = has_cancun_checks(cls.__mro__)

    def check_transaction(self, transaction: SignedTransactionAPI) -> None:
        """``transaction.validate()``, then ``self.validate_transaction(transaction)``.

        py-evm's, or their one-pass equal.
        """
        if not (self._one_pass_checks and passes_checks(self, transaction)):
            transaction.validate()
            self.validate_transaction(transaction)
