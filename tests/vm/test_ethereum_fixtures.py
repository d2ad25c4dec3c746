"""The official ethereum/tests fixtures through Settle's execution path (see docs/execution.md).

CI runs a fixed sample (``SAMPLE_PER_FOLDER`` evenly spaced state cases per folder, all trie, RLP and
transaction cases). The full run is one command:

    SETTLE_FULL_FIXTURES=1 pytest tests/vm/test_ethereum_fixtures.py

Contract code runs through compiled segments (``vm.segments``) from its first run here.
(``SETTLE_FIXTURE_SHARD=k/n`` runs the k-th of n interleaved shards, to use both cores.)

Every state case is held to two standards:

1. **Exactness**: Settle's Cancun-rules VM (``SettleCancunVM``: the fast path,
   native keccak) gives the same root and logs hash as stock py-evm's
   ``CancunVM``. This must hold for every case.
2. **The fixture**: the root and logs hash equal the fixture's. Where they do
   not, stock py-evm gives the same wrong answer (checked), and the case is
   reported as an expected failure naming py-evm's gap, never as a pass.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

import pytest
from eth.vm.forks.cancun import CancunVM

from tests.vm import ethereum_fixtures as fixtures

# py-evm warns on every SELFDESTRUCT it executes; the fixtures run thousands.
pytestmark = pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")

ROOT = fixtures.fixtures_root()
FULL = os.environ.get("SETTLE_FULL_FIXTURES") == "1"
SAMPLE_PER_FOLDER = 6
#: Too slow for the CI sample (seconds per case); the full run includes them.
SLOW_DIRECTORIES = ("stTimeConsuming/", "stQuadraticComplexityTest/", "stMemoryStressTest/", "VMTests/vmPerformance/",
                    "stStaticCall/static_Call50000", "stCallCreateCallCodeTest/Call1024")

#: Folders whose cases take seconds each on py-evm (pure-Python pairings, long loops).
SLOW_LAST = ("stTimeConsuming/", "stZeroKnowledge", "stQuadraticComplexityTest/", "stMemoryStressTest/",
             "stPreCompiledContracts", "VMTests/vmPerformance/", "stStaticCall/static_Call50000",
             "stCallCreateCallCodeTest/Call1024")

if not ROOT.is_dir():
    raise RuntimeError(f"ethereum/tests fixtures not found at {ROOT}; set SETTLE_ETHEREUM_TESTS")


def _shard(cases: list) -> list:
    shard = os.environ.get("SETTLE_FIXTURE_SHARD")
    if not shard:
        return cases
    k, n = (int(part) for part in shard.split("/"))
    return cases[k - 1::n]


def _sample(cases: Iterable[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Up to ``SAMPLE_PER_FOLDER`` evenly spaced cases from every top-level folder."""
    by_folder: dict[str, list[tuple[str, str, int]]] = {}
    for case in cases:
        by_folder.setdefault(case[0].split("/")[0], []).append(case)
    sample = []
    for folder_cases in by_folder.values():
        stride = max(1, len(folder_cases) // SAMPLE_PER_FOLDER)
        sample.extend(folder_cases[::stride][:SAMPLE_PER_FOLDER])
    return sample


def _state_params() -> list:
    cases = list(fixtures.state_cases(ROOT))
    if not FULL:
        cases = _sample(case for case in cases if not case[0].startswith(SLOW_DIRECTORIES))
    else:  # quick folders first, so a long run gives its signal early
        cases.sort(key=lambda case: case[0].startswith(SLOW_LAST))
    return [pytest.param(*case, id=f"{case[0]}::{case[2]}") for case in _shard(cases)]


# py-evm 0.12.1b1 stateless checks that ethereum/tests expects but py-evm does
# not make when decoding (it relies on the balance check against state, or has
# no such check). Settle uses py-evm's transaction classes unchanged.
PY_EVM_TRANSACTION_GAPS = {
    "TransactionException.GASLIMIT_PRICE_PRODUCT_OVERFLOW": (
        "gas * price above 2**256 is not a decoding error in py-evm"
    ),
    "GasLimitPriceProductOverflowPlusOne": "gas * price above 2**256 is not a decoding error in py-evm",
    "maxFeePerGas32BytesValue": "gas * max fee above 2**256 is not a decoding error in py-evm",
    "maxPriorityFeePerGass32BytesValue": "priority fee > max fee is checked against state, not on decoding",
    "DataTestInitCodeTooBig": "EIP-3860 initcode size limit is enforced when the creation runs, not on decoding",
    "DataTestNotEnoughGasInitCode": "py-evm's intrinsic gas leaves out EIP-3860's initcode word cost",
    "TransactionWithGasLimitOverflow64": "gas limit >= 2**64 is not a decoding error in py-evm",
    "TransactionWithGasLimitxPriceOverflow": "gas * price above 2**256 is not a decoding error in py-evm",
}


#: Runs of a code before vm.segments compiles it; 0 here, so every fixture's code goes through the
#: compiler (``SETTLE_SEGMENTS_HOT_AFTER=1`` runs the node's default, mostly the plain loop).
HOT_AFTER_RUNS = int(os.environ.get("SETTLE_SEGMENTS_HOT_AFTER", "0"))


@pytest.fixture(autouse=True)
def _segments_from_the_first_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vm.segments.HOT_AFTER_RUNS", HOT_AFTER_RUNS)


@pytest.mark.parametrize(("relative", "name", "index"), _state_params())
def test_general_state_test(relative: str, name: str, index: int) -> None:
    settle = fixtures.run_state_case(ROOT, relative, name, index)
    expected_root, expected_logs, expected_exception = fixtures.state_expectation(ROOT, relative, name, index)
    if (settle.state_root, settle.logs_hash) == (expected_root, expected_logs):
        return
    stock = fixtures.run_state_case(ROOT, relative, name, index, vm_class=CancunVM)
    assert (settle.state_root, settle.logs_hash, settle.rejected) == (
        stock.state_root,
        stock.logs_hash,
        stock.rejected,
    ), f"Settle's path differs from stock py-evm on {relative} {name}[{index}]"
    pytest.xfail(
        f"stock py-evm gives the same result as Settle, not the fixture's "
        f"(expected exception: {expected_exception}; py-evm: {stock.rejected or 'executed'})"
    )


@pytest.mark.parametrize(("filename", "name"), list(fixtures.trie_cases(ROOT)))
def test_trie_test(filename: str, name: str) -> None:
    fixtures.run_trie_case(ROOT, filename, name)


@pytest.mark.parametrize(("relative", "name"), list(fixtures.rlp_cases(ROOT)))
def test_rlp_test(relative: str, name: str) -> None:
    fixtures.run_rlp_case(ROOT, relative, name)


@pytest.mark.parametrize(("relative", "name"), list(fixtures.transaction_cases(ROOT)))
def test_transaction_test(relative: str, name: str) -> None:
    if name in PY_EVM_TRANSACTION_GAPS:
        with pytest.raises(AssertionError, match="accepted, expected"):
            fixtures.run_transaction_case(ROOT, relative, name)
        pytest.xfail(PY_EVM_TRANSACTION_GAPS[name])
    fixtures.run_transaction_case(ROOT, relative, name)


def test_sample_is_representative() -> None:
    """The CI sample reaches every top-level folder of GeneralStateTests that has fast cases."""
    sampled = {param.values[0].split("/")[0] for param in _state_params()}
    folders = {case[0].split("/")[0] for case in fixtures.state_cases(ROOT)}
    assert folders - sampled <= {"stTimeConsuming", "stQuadraticComplexityTest", "stMemoryStressTest"}
