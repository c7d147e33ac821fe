"""`gamif load fanout-balancer` end to end with tiny numbers: one hub, then two, behind Debian's HAProxy
with the compose stack's configuration; every message checked at every client, both hubs used, and
the kit result carrying the two-hubs/one-hub ratio and HAProxy's CPU."""

from __future__ import annotations

import json
import shlex

from load_tests.fanout.balancer_cli import main
from load_tests.fanout.balancer_target import haproxy_binary


def test_fanout_through_the_balancer_with_one_and_two_hubs(tmp_path, redis_server):
    assert haproxy_binary() is not None, "HAProxy is not installed: apt-get install haproxy (.ci/run does)"
    kit_file, raw_file = tmp_path / "fanout-balancer.json", tmp_path / "raw.json"
    argv = shlex.split("--subscribers 20 --messages 20 --warmup 2 --procs 2 --quiet-wait 0")
    argv += ["--redis-url", redis_server, "--json", str(kit_file), "--raw", str(raw_file)]
    assert main(argv) == 0

    raw = json.loads(raw_file.read_text(encoding="utf-8"))
    for name in ("lb-1-hub", "lb-2-hubs"):
        target = raw["targets"][name]
        assert target["status"] == "ok", target["reason"]
        assert target["memory"] is None  # the plain hub target measures memory
        [run] = target["fanout"]
        assert run["deliveries"] == run["expected_deliveries"] == 20 * 20
        assert run["complete"] is True
        assert "balancer_cpu_percent" in run
    ratio = raw["comparisons"]["lb-2-hubs/lb-1-hub"]["deliveries_per_s"]["20"]
    assert ratio > 0
    kit = json.loads(kit_file.read_text(encoding="utf-8"))
    assert kit["scenario"] == "fanout-balancer"
    assert kit["summary"]["counters"] == {"errors": 0, "missed": 0}
    assert "lb-2-hubs at 20: deliveries/s" in kit["extra"]
    assert any(note.startswith("two hubs / one hub behind HAProxy: deliveries/s") for note in kit["notes"])
    assert any(note.startswith("HAProxy CPU with lb-2-hubs at 20") for note in kit["notes"])
