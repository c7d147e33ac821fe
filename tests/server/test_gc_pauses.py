"""`server.gc_pauses.tune`, as `gamif serve` calls it before serving: what it holds is frozen, and the
collector's thresholds are the tuned ones. In a process of its own (the collector is process-wide)."""

from __future__ import annotations

import subprocess
import sys

from server.gc_pauses import THRESHOLDS


def test_tune_freezes_the_started_process_and_sets_the_thresholds() -> None:
    code = (
        "import gc; from server import app, gc_pauses; gc_pauses.tune(); "
        "print(gc.get_threshold(), gc.get_freeze_count() > 10_000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[0] == f"{THRESHOLDS} True"
