"""Settle's precompile prices: gas that bounds time in Settle's own execution.

Every validator re-executes every block, and importing a block has no clock
(determinism): only gas bounds how long it takes. Ethereum's prices assume
native implementations; py-evm runs some precompiles in pure Python, far
slower per gas than ordinary contract code (an ERC-20 transfer runs at about
0.01 µs of CPU per gas). Settle's rule (DESIGN.md, "Gas bounds time"): no
precompile may cost more than :data:`MAX_MICROSECONDS_PER_GAS` of CPU per gas.

* **blake2f (0x09)** is native: py-evm imports the Rust ``blake2b`` module of
  PyPI ``blake2b-py`` (pinned in setup.cfg) when it is installed, at
  0.012 µs per round (1 gas per round); pure Python took 14.8 µs.
  :func:`blake2f_is_native` says which one runs; a node without the native
  one logs an error at start-up (it computes the same results, 1,200 times
  slower).
* **bn128 (0x06 add, 0x07 mul, 0x08 pairing)** run in py_ecc's pure Python.
  Settle's fork reprices them (a consensus rule), from costs measured on a
  2-core machine of the reference kind (Python 3.11, py_ecc 8.0.0):

  ========= ===================== ============= ===================
  address   measured CPU           Ethereum gas  Settle gas
  ========= ===================== ============= ===================
  0x06 add  22 µs                  150           1,000
  0x07 mul  7.2 ms (256-bit k)     6,000         300,000
  0x08 pair 146 ms + 104 ms/pair   45,000 +      6,000,000 +
                                   34,000/pair   4,200,000/pair
  ========= ===================== ============= ===================

  That is 0.022–0.025 µs per gas. A four-pair check (a Groth16 verifier)
  costs 22.8 M gas, inside the per-transaction cap of a 60 M-gas block.
  A native BN254 library would let Ethereum's prices back.

The Cancun VM that runs the official state tests (``SettleCancunVM``) keeps
Ethereum's prices: those tests check py-evm's execution against Ethereum's
rules, and Settle's chain runs :class:`vm.fork.SettleVM` only.
"""
from __future__ import annotations

from typing import Any

from eth import precompiles
from eth._utils.address import force_bytes_to_address

#: The most CPU a precompile may cost per gas in Settle's execution (a 60 M-gas block: 1.5 s).
MAX_MICROSECONDS_PER_GAS = 0.025

GAS_ECADD = 1_000
GAS_ECMUL = 300_000
GAS_ECPAIRING_BASE = 6_000_000
GAS_ECPAIRING_PER_POINT = 4_200_000

ECADD_ADDRESS = force_bytes_to_address(b"\x06")
ECMUL_ADDRESS = force_bytes_to_address(b"\x07")
ECPAIRING_ADDRESS = force_bytes_to_address(b"\x08")


def settle_precompiles(ethereum: dict[Any, Any]) -> dict[Any, Any]:
    """``ethereum``'s precompiles with the bn128 ones at Settle's prices."""
    return {
        **ethereum,
        ECADD_ADDRESS: precompiles.ecadd(gas_cost=GAS_ECADD),
        ECMUL_ADDRESS: precompiles.ecmul(gas_cost=GAS_ECMUL),
        ECPAIRING_ADDRESS: precompiles.ecpairing(
            gas_cost_base=GAS_ECPAIRING_BASE, gas_cost_per_point=GAS_ECPAIRING_PER_POINT
        ),
    }


def blake2f_is_native() -> bool:
    """Whether py-evm's blake2f precompile runs the Rust ``blake2b`` module (PyPI ``blake2b-py``)."""
    from eth.precompiles import blake2

    return str(getattr(blake2.blake2b_compress, "__module__", "")).split(".")[0] == "blake2b"
