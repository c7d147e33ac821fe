"""Commands other packages add to `gamif`: entry points in the ``gamif.commands`` group, each a
function ``(argv, prog) -> exit status`` whose docstring's first line is its help. The load kit's
`gamif load` and `gamif bench` are found this way, so that the server never imports the kit (its
layering forbids it) and an install without it still runs everything else.

A command is loaded only when it is run, or listed by ``gamif --help``; one that cannot be loaded
is reported by name, not with a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import cast

GROUP = "gamif.commands"

Command = Callable[[Sequence[str], str], int]


def commands() -> dict[str, EntryPoint]:
    """The installed commands, by name."""
    return {entry.name: entry for entry in entry_points(group=GROUP)}


def load(entry: EntryPoint) -> Command:
    """The command's function; ImportError when its module cannot be imported."""
    return cast(Command, entry.load())


def summary(entry: EntryPoint) -> str:
    """The command's one-line help, for ``gamif --help``."""
    try:
        doc = load(entry).__doc__ or ""
    except ImportError as error:
        return f"(cannot be loaded: {error})"
    return doc.strip().splitlines()[0] if doc.strip() else ""


def run(entry: EntryPoint, argv: Sequence[str]) -> int:
    prog = f"gamif {entry.name}"
    try:
        command = load(entry)
    except ImportError as error:
        dist = entry.dist.name if entry.dist is not None else "its package"
        print(f"{prog}: this command (from {dist}) cannot be loaded: {error}", file=sys.stderr)
        return 1
    return command(argv, prog)
