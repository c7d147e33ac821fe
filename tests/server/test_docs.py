"""The README says what the code does: the two commands, every setting."""

from __future__ import annotations

from pathlib import Path

from server.config import settings_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands():
    quick_start = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make run" in quick_start
    assert "make test" in quick_start
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.rstrip().endswith("make test")  # CI runs exactly the README's test command


def test_readme_documents_every_setting():
    for name, _default, _description in settings_table():
        assert f"`{name}`" in README, f"{name} is missing from the README's settings table"
