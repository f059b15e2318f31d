"""Command kinds: built-ins, and third-party kinds found through the `punctual.commands` entry points."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings
from workers.commands import get_command
from workers.commands.base import CommandError
from workers.commands.template import TemplateCommand

SETTINGS = Settings(database_url="x", redis_url="x", secret_key="x" * 16)


@pytest.fixture()
def plugin_on_path(tmp_path: Path) -> Iterator[None]:
    # An installed distribution, as pip would leave it: a module and a dist-info declaring the entry point.
    (tmp_path / "punctual_pdf_plugin.py").write_text(
        "from workers.commands.base import Blob\n"
        "class PdfCommand:\n"
        "    def __init__(self, settings): self.settings = settings\n"
        "    def run(self, request): return Blob(b'%PDF', 'application/pdf')\n"
    )
    info = tmp_path / "punctual_pdf_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: punctual-pdf-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[punctual.commands]\npdf = punctual_pdf_plugin:PdfCommand\n")
    sys.path.insert(0, str(tmp_path))
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("punctual_pdf_plugin", None)


def test_builtin_kinds_resolve() -> None:
    assert isinstance(get_command("template", SETTINGS), TemplateCommand)


def test_third_party_kind_is_loaded_from_its_entry_point(plugin_on_path: None) -> None:
    command = get_command("pdf", SETTINGS)
    assert type(command).__name__ == "PdfCommand"


def test_unknown_kind_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="unknown command kind 'nope'"):
        get_command("nope", SETTINGS)
