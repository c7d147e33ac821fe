"""``python -m load_tests.fanout``: see `load_tests.fanout.cli`."""

from .cli import main

raise SystemExit(main())
