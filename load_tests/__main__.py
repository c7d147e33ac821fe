"""``python -m load_tests SCENARIO [options]``: the load kit (`load_tests.kit.cli`), as `gamif load`."""

import sys

from load_tests.commands import load

raise SystemExit(load(sys.argv[1:], prog="python -m load_tests"))
