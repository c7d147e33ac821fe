"""The load kit's `gamif` commands, `gamif load` and `gamif bench`: registered as entry points in the
``gamif.commands`` group (pyproject.toml), which the `gamif` command line finds by name. The server
never imports the kit: the kit stands beside it.

The kit needs packages gamif itself does not (the ``load`` extra): a plain ``pip install gamif``
leaves them out, and the commands then say which extra to install instead of failing on an import
halfway through a run.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

EXTRA = "load"
"""The optional dependencies of pyproject.toml that install the kit's own needs."""

EXTRA_MODULES = {"hdrh": "hdrhistogram", "httpx": "httpx", "uvloop": "uvloop"}
"""What the kit imports beyond gamif's own dependencies (module: the distribution that brings it),
the ``load`` extra's packages one for one."""


def missing() -> list[str]:
    """The distributions of the ``load`` extra whose module cannot be imported here."""
    absent = []
    for module, distribution in EXTRA_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            absent.append(distribution)
    return absent


def _installed(prog: str) -> bool:
    absent = missing()
    if absent:
        print(
            f"{prog}: the load kit needs the '{EXTRA}' extra, which is not installed "
            f"(missing: {', '.join(absent)}).\nInstall it with:  pip install 'gamif[{EXTRA}]'",
            file=sys.stderr,
        )
    return not absent


def load(argv: Sequence[str], prog: str = "gamif load") -> int:
    """load scenarios that drive the protocol (gamif load --help)"""
    if not _installed(prog):
        return 1
    from load_tests.kit import cli

    return cli.main(argv, prog=prog)


def bench(argv: Sequence[str], prog: str = "gamif bench") -> int:
    """benchmarks: engine throughput, hub fan-out (gamif bench --help)"""
    if not _installed(prog):
        return 1
    from load_tests import bench_cli

    return bench_cli.main(argv, prog=prog)
