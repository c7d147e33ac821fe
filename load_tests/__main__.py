"""``python -m load_tests SCENARIO [options]``: the load kit (`load_tests.kit.cli`)."""

from load_tests.kit.cli import main

raise SystemExit(main())
