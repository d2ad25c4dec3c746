"""scripts/dev, README's one run command: what it would install and run on this machine (issue 23).

A real run installs into .venv with pip (the network) and apt (root), which a test
must not do; SETTLE_DEV_DRY_RUN=1 prints the same steps instead of running them.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_scripts_dev_is_the_readme_run_command_and_plans_every_step() -> None:
    assert "```sh\n./scripts/dev\n```" in (ROOT / "README.md").read_text()
    script = (ROOT / "scripts" / "dev").read_text()
    for package in ("libgmp-dev", "gcc", "python3-dev", "python3-venv"):
        assert f"need_apt+=({package})" in script
    result = subprocess.run([str(ROOT / "scripts" / "dev"), "--interval-mining", "--rpc-port", "9999"],
                            env={**os.environ, "SETTLE_DEV_DRY_RUN": "1"}, capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "would run: .venv/bin/settle node dev --interval-mining --rpc-port 9999"
    if not (ROOT / ".venv" / ".settle-installed").exists():
        assert "would run: .venv/bin/pip install -q -e ." in result.stdout
