"""The README says what the code does: the two commands, every setting."""

from __future__ import annotations

import re
import tomllib
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


def test_coverage_measures_every_python_package_of_the_layout():
    """Every Python directory of the README's layout table (all but the client and the tests) is
    measured by `make test`'s coverage."""
    layout = README.split("## Layout", 1)[1].split("\n## ", 1)[0]
    packages = set(re.findall(r"^\| `(\w+)/`", layout, re.MULTILINE)) - {"client", "tests"}
    assert packages == {"game", "protocol", "persistence", "tasks", "server", "load_tests"}
    for package in packages:
        assert (ROOT / package / "__init__.py").is_file(), package
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert set(config["tool"]["coverage"]["run"]["source"]) == packages
