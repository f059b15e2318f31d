"""Static checks run by the suite: ruff, mypy and the import-linter layering contracts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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


def test_the_guarantees_table_names_only_tests_that_exist() -> None:
    # README's Guarantees table maps each promise to its tests: a renamed or removed test must not leave it stale.
    # A cell is `tests/...py`, `tests/...py::name`, `file.py[::name]` beside the last path, `::name` or a bare
    # `test_name` in the last file; `...` stands for any part of a name.
    table = (REPO_ROOT / "README.md").read_text().split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    last = Path()
    named = 0
    for cell in re.findall(r"`([^`]+)`", table):
        path, _, name = cell.partition("::")
        if path.endswith(".py"):
            last = Path(path) if path.startswith("tests/") else last.parent / path
            assert (REPO_ROOT / last).is_file(), cell
        elif path and not path.startswith(("test_", "...")):
            continue  # not a test (a command or a setting)
        else:
            name = name or path
        if name:
            pattern = re.escape(name).replace(re.escape("..."), r"\w*")
            assert re.search(rf"def {pattern}\b", (REPO_ROOT / last).read_text()), cell
            named += 1
    assert named > 10
