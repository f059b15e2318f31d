"""Static checks run by the suite: ruff, mypy and the import-linter layering contracts."""

from __future__ import annotations

import subprocess

import pytest

from shared.settings import REPO_ROOT
from tests.processes import BIN


@pytest.mark.parametrize("command", [
    ["ruff", "check", "api", "beat", "workers", "shared", "tests", "bench"],
    ["mypy"],
    ["lint-imports"],
], ids=["ruff", "mypy", "import-linter"])
def test_static_check_passes(command: list[str]) -> None:
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
