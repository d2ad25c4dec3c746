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
* **BLS12-381 (0x0b–0x11, EIP-2537, new in Prague)** run in py_ecc's pure
  Python too, at up to 6.9 µs per gas. Settle's fork charges a surcharge on
  top of Ethereum's price (a consensus rule), from the same kind of
  measurement:

  ================== ===================== ====================
  precompile         measured CPU           Settle surcharge
  ================== ===================== ====================
  0x0b G1ADD         0.12 ms                5,000
  0x0c G1MSM         16 ms per point        650,000 per point
  0x0d G2ADD         0.74 ms                30,000
  0x0e G2MSM         66 ms per point        2,700,000 per point
  0x0f PAIRING_CHECK 13 ms + 347 ms/pair    600,000 + 14,000,000 per pair
  0x10 MAP_FP_TO_G1  2.0 ms                 85,000
  0x11 MAP_FP2_TO_G2 77 ms                  3,100,000
  ================== ===================== ====================

  A two-pair check (one BLS signature) then costs about 28.7 M gas: it fits
  a transaction only where the cap is that high. blspy, already a
  dependency, is native BLS12-381; wiring it to EIP-2537's encodings would
  let the surcharges go.

The Cancun VM that runs the official state tests (``SettleCancunVM``) keeps
Ethereum's prices: those tests check py-evm's execution against Ethereum's
rules, and Settle's chain runs :class:`vm.fork.SettleVM` only.
"""
from __future__ import annotations

from collections.abc import Callable
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


#: EIP-2537 address -> (surcharge per call, surcharge per item, bytes per item of its input).
BLS12_SURCHARGES: dict[int, tuple[int, int, int]] = {
    0x0B: (5_000, 0, 1),  # G1ADD
    0x0C: (0, 650_000, 160),  # G1MSM: a 128-byte point and a 32-byte scalar per item
    0x0D: (30_000, 0, 1),  # G2ADD
    0x0E: (0, 2_700_000, 288),  # G2MSM: a 256-byte point and a 32-byte scalar per item
    0x0F: (600_000, 14_000_000, 384),  # PAIRING_CHECK: a G1 and a G2 point per pair
    0x10: (85_000, 0, 1),  # MAP_FP_TO_G1
    0x11: (3_100_000, 0, 1),  # MAP_FP2_TO_G2
}


def _surcharged(
    precompile: Callable[[Any], Any], per_call: int, per_item: int, item_bytes: int
) -> Callable[[Any], Any]:
    """``precompile`` charging ``per_call + per_item * items`` more gas first (all of it is lost on an error)."""
    def surcharged(computation: Any) -> Any:
        items = len(computation.msg.data) // item_bytes if per_item else 0
        computation.consume_gas(per_call + per_item * items, reason="Settle's surcharge for pure-Python BLS12-381")
        return precompile(computation)

    return surcharged


def settle_precompiles(ethereum: dict[Any, Any]) -> dict[Any, Any]:
    """``ethereum``'s precompiles at Settle's prices: bn128 repriced, BLS12-381 (if present) surcharged."""
    priced = {
        **ethereum,
        ECADD_ADDRESS: precompiles.ecadd(gas_cost=GAS_ECADD),
        ECMUL_ADDRESS: precompiles.ecmul(gas_cost=GAS_ECMUL),
        ECPAIRING_ADDRESS: precompiles.ecpairing(
            gas_cost_base=GAS_ECPAIRING_BASE, gas_cost_per_point=GAS_ECPAIRING_PER_POINT
        ),
    }
    for number, (per_call, per_item, item_bytes) in BLS12_SURCHARGES.items():
        address = force_bytes_to_address(bytes([number]))
        if address in ethereum:
            priced[address] = _surcharged(ethereum[address], per_call, per_item, item_bytes)
    return priced


def blake2f_is_native() -> bool:
    """Whether py-evm's blake2f precompile runs the Rust ``blake2b`` module (PyPI ``blake2b-py``)."""
    from eth.precompiles import blake2

    return str(getattr(blake2.blake2b_compress, "__module__", "")).split(".")[0] == "blake2b"
