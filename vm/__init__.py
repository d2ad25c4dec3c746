"""Settle's execution layer on py-evm.

Importing it selects the native keccak for the whole process (see :mod:`vm.native`).
"""
from vm.native import NATIVE_KECCAK, NATIVE_RLP

__all__ = ["NATIVE_KECCAK", "NATIVE_RLP"]
