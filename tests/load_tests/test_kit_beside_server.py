"""The load kit stands beside the server: `gamif load` and `gamif bench` are entry points the server
finds by name (it never imports `load_tests`), and its dependencies are the `load` extra, which a
plain install leaves out: the commands then name that extra instead of failing with a traceback."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points, packages_distributions, requires
from pathlib import Path

import pytest

from load_tests.commands import EXTRA, EXTRA_MODULES

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# A process in which the load extra's modules cannot be imported, as after a plain `pip install .`:
# a finder ahead of every other refuses them (the rest of the installation is untouched).
WITHOUT_THE_EXTRA = f"""
import sys

class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {sorted(EXTRA_MODULES)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
"""


def _imported_names(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.append(node.value)  # importlib.import_module("load_tests....") too
    return names


def test_no_server_module_imports_the_load_kit() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "server").rglob("*.py"))
        for name in _imported_names(ast.parse(path.read_text(encoding="utf-8")))
        if name == "load_tests" or name.startswith("load_tests.")
    ]
    assert offenders == []


def test_the_kit_commands_are_installed_entry_points() -> None:
    declared = PYPROJECT["project"]["entry-points"]["gamif.commands"]
    assert declared == {"load": "load_tests.commands:load", "bench": "load_tests.commands:bench"}
    installed = {entry.name: entry.value for entry in entry_points(group="gamif.commands")}
    assert installed == declared  # the metadata `gamif` reads agrees with pyproject.toml


@pytest.mark.parametrize("command", ["load", "bench"])
def test_gamif_lists_the_kit_commands(command: str) -> None:
    gamif = str(Path(sys.executable).parent / "gamif")
    listed = subprocess.run([gamif, "--help"], capture_output=True, text=True, check=True).stdout
    assert f"    {command} " in listed


def test_the_load_extra_is_what_the_kit_imports_beyond_gamif() -> None:
    """Every third-party module the kit imports comes with gamif itself or with the `load` extra (the
    Locust user aside: Locust's own users install Locust), and the extra holds nothing more."""
    extra = {_name(requirement) for requirement in PYPROJECT["project"]["optional-dependencies"][EXTRA]}
    assert extra == set(EXTRA_MODULES.values())
    assert "gamif[load]" in PYPROJECT["project"]["optional-dependencies"]["dev"]  # `make test` runs the kit
    base = {_name(requirement) for requirement in PYPROJECT["project"]["dependencies"]}
    installed = {_name(r) for r in requires("gamif") or [] if f'extra == "{EXTRA}"' in r}
    assert installed == extra  # this installation's metadata is pyproject.toml's
    distributions = packages_distributions()
    ours = {"game", "protocol", "persistence", "tasks", "server", "load_tests"}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    unmet = set()
    for path in sorted((ROOT / "load_tests").rglob("*.py")):
        if path.name == "locust_user.py":
            continue
        for name in _imported_names(_imports_only(path)):
            top = name.partition(".")[0]
            if top in ours or top in stdlib:
                continue
            if not {_normal(d) for d in distributions.get(top, [top])} & {_normal(d) for d in base | extra}:
                unmet.add(f"{path.relative_to(ROOT)}: {top}")
    assert unmet == set()


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", WITHOUT_THE_EXTRA + "from server.cli import main; sys.exit(main(['load', '--help']))"],
        ["-c", WITHOUT_THE_EXTRA + "from server.cli import main; sys.exit(main(['load', 'fanout']))"],
        ["-c", WITHOUT_THE_EXTRA + "from server.cli import main; sys.exit(main(['bench', 'engine']))"],
        ["-c", WITHOUT_THE_EXTRA + "import runpy; runpy.run_module('load_tests', run_name='__main__')"],
    ],
    ids=["gamif load --help", "gamif load fanout", "gamif bench engine", "python -m load_tests"],
)
def test_without_the_extra_the_commands_name_it(argv: list[str]) -> None:
    ran = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    missing = "(missing: hdrhistogram, httpx, uvloop)"
    assert f"needs the 'load' extra, which is not installed {missing}" in ran.stderr
    assert "pip install 'gamif[load]'" in ran.stderr
    assert ran.stdout == ""


def test_with_the_extra_the_same_command_runs() -> None:
    """The control: the same process set-up, the modules left alone, lists the scenarios."""
    ran = subprocess.run(
        [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main(['load', '--help']))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("usage: gamif load SCENARIO")


def _imports_only(path: Path) -> ast.Module:
    """The file's import statements (not its other strings)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    return ast.Module(body=imports, type_ignores=[])


def _name(requirement: str) -> str:
    name = requirement
    for stop in "<>=!~[; ":
        name = name.split(stop, 1)[0]
    return _normal(name)


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
