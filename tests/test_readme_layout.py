"""The README's layout table matches the tree: every package of ours is listed, every listed path exists,
and every package opens with a docstring saying what it holds (a newcomer reads the tree from these)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP = ("game", "protocol", "persistence", "tasks", "server", "load_tests")


def listed() -> list[str]:
    """The paths in the first column of the README's layout table (``game/``, ``server/hub/``, ...)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([\w/]+/)` \|", section, flags=re.MULTILINE)


def packages() -> list[str]:
    """Every directory of ours that is a Python package, as ``path/``."""
    found = []
    for top in TOP:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            if "node_modules" not in init.parts:
                found.append(init.parent.relative_to(ROOT).as_posix() + "/")
    return found


def test_the_table_lists_every_package_and_only_what_exists() -> None:
    rows = listed()
    assert len(rows) == len(set(rows)), "a path is listed twice"
    missing = [path for path in packages() if path not in rows]
    assert not missing, f"packages the README's layout table does not list: {missing}"
    absent = [path for path in rows if not (ROOT / path).is_dir()]
    assert not absent, f"the README's layout table lists paths that do not exist: {absent}"


def test_every_package_says_what_it_holds() -> None:
    bare = []
    for path in packages():
        docstring = ast.get_docstring(ast.parse((ROOT / path / "__init__.py").read_text()))
        if not docstring or len(docstring.split()) < 8:
            bare.append(path)
    assert not bare, f"packages without a docstring saying what they hold: {bare}"
