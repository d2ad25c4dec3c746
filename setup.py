"""Build script for the native parts; all package metadata stays in setup.cfg.

``pip install .`` (or ``-e .``) compiles the order-matching engine
(``vm/matching/_engine.c``, a CPython extension: a C compiler and the
Python headers are needed; ``./scripts/test`` installs gcc when missing).
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vm.matching._engine",
            sources=["vm/matching/_engine.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wno-unused-parameter"],
        )
    ]
)
