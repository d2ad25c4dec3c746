"""Errors raised while reading, validating or generating genesis material.

Every failure in this package is a :class:`GenesisError`, so callers (the CLI,
node start-up) can catch one type and print its message. Each subclass keeps the
offending values as attributes, so a caller can also act on them rather than
parse the message.
"""

from __future__ import annotations

from pathlib import Path


class GenesisError(Exception):
    """Root of every error raised by the ``genesis`` package."""


class GenesisFileError(GenesisError):
    """A genesis file could not be read (missing, unreadable, not UTF-8)."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class GenesisJSONError(GenesisError):
    """A genesis file is not valid JSON; ``line`` and ``column`` are 1-based."""

    def __init__(self, source: str, line: int, column: int, problem: str) -> None:
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem
        super().__init__(f"{source}: invalid JSON at line {line}, column {column}: {problem}")


class GenesisFieldError(GenesisError):
    """One field of a genesis document is missing, malformed or out of range.

    ``field_path`` names the field as it is spelt in the JSON file, e.g.
    ``alloc.0x00…01.balance`` or ``validators[2].blsPublicKey``, so the operator
    can find it without knowing the Python model.
    """

    def __init__(self, field_path: str, problem: str, source: str = "genesis") -> None:
        self.field_path = field_path
        self.problem = problem
        self.source = source
        super().__init__(f"{source}: field '{field_path}': {problem}")


class UnknownGenesisFieldError(GenesisFieldError):
    """A key that the genesis format does not define, probably a typo."""

    def __init__(self, field_path: str, key: str, suggestion: str | None, source: str = "genesis") -> None:
        self.key = key
        self.suggestion = suggestion
        hint = f"; did you mean '{suggestion}'?" if suggestion else ""
        super().__init__(field_path, f"unknown key '{key}'{hint}", source)


class KeyFileError(GenesisError):
    """A key file is missing, unreadable, not hex, or has the wrong length."""

    def __init__(self, path: Path | str, name: str, problem: str) -> None:
        self.path = Path(path)
        self.name = name
        self.problem = problem
        super().__init__(f"{name} key file {path}: {problem}")


class InvalidKeyError(GenesisError):
    """Secret key bytes that are not a usable key for their scheme."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{name} key: {problem}")


class TestnetError(GenesisError):
    """``init_testnet`` was asked for something it cannot lay out safely."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, parameter: str, value: object, problem: str) -> None:
        self.parameter = parameter
        self.value = value
        self.problem = problem
        super().__init__(f"testnet {parameter}={value!r}: {problem}")


class OutputDirNotEmptyError(TestnetError):
    """The testnet output directory already holds files, which we never overwrite."""

    def __init__(self, path: Path) -> None:
        super().__init__("out_dir", str(path), "directory exists and is not empty; refusing to overwrite")
        self.path = path
