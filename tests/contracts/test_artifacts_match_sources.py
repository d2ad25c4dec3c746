"""Committed artifacts in contracts/build must be exactly what the sources compile to.

Nodes load the committed JSON without Node.js, so a stale artifact would silently
deploy code that differs from the reviewed Solidity. This test needs Node.js; it
installs the pinned npm packages itself rather than skipping.
"""

from pathlib import Path

from contracts.compiler import BUILD_DIR, compile_all, npm_install_if_needed

HINT = "committed contracts/build is stale: run `settle contracts compile` and commit the result"


def test_committed_artifacts_match_fresh_compile(tmp_path: Path) -> None:
    npm_install_if_needed()
    fresh_dir = tmp_path / "build"
    compile_all(build_dir=fresh_dir)

    committed = {p.name: p.read_bytes() for p in BUILD_DIR.glob("*.json")}
    fresh = {p.name: p.read_bytes() for p in fresh_dir.glob("*.json")}

    assert sorted(committed) == sorted(fresh), f"artifact files differ; {HINT}"
    for name, data in fresh.items():
        assert committed[name] == data, f"{name} differs from a fresh compile; {HINT}"
