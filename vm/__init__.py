"""Settle's execution layer on py-evm; importing it selects the native keccak (see :mod:`vm.native`)."""
from vm import native as _native  # noqa: F401
