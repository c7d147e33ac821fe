"""The `gamif` command line, as a new user runs it on the shipped files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from game import default_rules, parse_rules_yaml
from server.cli import main

DATA = Path(__file__).resolve().parents[2] / "game" / "data"
DRAFT = DATA / "sample_draft_rules.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rules_check_accepts_the_shipped_rules(capsys):
    for path in (DATA / "default_rules.yaml", DRAFT):
        code, out, _ = run(capsys, "rules", "check", str(path))
        assert code == 0
        assert "OK" in out
        assert "7 metrics" in out
    _, out, _ = run(capsys, "rules", "check", str(DATA / "default_rules.yaml"))
    assert f"software-teams v1 (fingerprint {default_rules().fingerprint})" in out


def test_rules_check_lists_every_error_with_path_and_line(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "ruleset: broken\n"
        "version: 1\n"
        "levels: {curve: table, thresholds: [0, 100]}\n"
        "metrics:\n"
        "  commits: {name: Commits, unit: commit, xp_per_unit: -2}\n"
        "badges:\n"
        "  first: {name: First, criteria: {kind: event_count, metric: commits, count: 1}, colour: red}\n"
    )
    code, out, err = run(capsys, "rules", "check", str(bad))
    assert code == 1
    assert out == ""
    assert "2 errors" in err
    assert "metrics.commits.xp_per_unit (line 5)" in err
    assert "[found: -2]" in err
    assert "badges.first.colour (line 7): unknown key 'colour'" in err


def test_rules_check_reports_cross_rule_errors(capsys, tmp_path):
    text = (
        (DATA / "default_rules.yaml")
        .read_text()
        .replace("metric: reviews_done, threshold: 10}", "metric: reveiws, threshold: 10}")
    )
    bad = tmp_path / "typo.yaml"
    bad.write_text(text)
    code, _, err = run(capsys, "rules", "check", str(bad))
    assert code == 1
    assert "badges.review-marathon.criteria.metric" in err
    assert "unknown metric 'reveiws'" in err


def test_rules_check_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "rules", "check", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert "cannot read the rules file" in err


def test_rules_default_prints_the_embedded_rules(capsys):
    code, out, _ = run(capsys, "rules", "default")
    assert code == 0
    assert parse_rules_yaml(out).fingerprint == default_rules().fingerprint


def test_simulate_explains_every_award_on_the_samples(capsys):
    code, out, _ = run(capsys, "simulate")
    assert code == 0
    assert "912 events: 910 scored, 1 duplicate, 1 rejected" in out
    for user in ("ana", "bo", "chen", "dara", "emeka", "farah", "gus", "hana"):
        assert f"== {user} (" in out
    assert "rejected bo-selfreport-1: source_not_allowed" in out
    assert "duplicates (counted once): ana-000006" in out
    assert "LEVEL UP" in out
    assert "BADGE" in out
    assert "capped at 120 by the daily cap" in out


def test_simulate_json_totals_match_the_awards(capsys):
    code, out, _ = run(capsys, "simulate", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["version"] == 1
    assert len(report["users"]) == 8
    for user in report["users"].values():
        awarded = sum(e["amount"] for e in user["effects"] if e["kind"] == "xp_awarded")
        assert awarded == user["xp"]
        for effect in user["effects"]:
            explanation = effect["explanation"]
            assert explanation["rule_version"] == 1
            assert explanation["text"]
            assert explanation["rule_id"].split(".")[0] in {
                "metrics",
                "missions",
                "badges",
                "streaks",
                "levels",
            }


def test_simulate_one_user_summary(capsys):
    code, out, _ = run(capsys, "simulate", "--user", "ana", "--summary")
    assert code == 0
    assert "ana" in out
    assert "bo " not in out
    assert "==" not in out


def test_simulate_unknown_user(capsys):
    code, _, err = run(capsys, "simulate", "--user", "nobody")
    assert code == 1
    assert "no events for user(s): nobody" in err


def test_simulate_bad_events_file_names_the_line(capsys, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"id": "a", "user": "ana", "metric": "commits", "value": 1, "occurred_at": "2026-11-02T10:00:00Z"}\n'
        '{"id": "b", "user": "ana", "metric": "commits", "value": 1, "occurred_at": "2026-11-02T10:00:00"}\n'
    )
    code, _, err = run(capsys, "simulate", "--events", str(events))
    assert code == 1
    assert "line 2" in err
    assert "occurred_at" in err


def test_simulate_own_events_with_users_file(capsys, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"id": "a", "user": "kim", "metric": "reviews_done", "value": 3, '
        '"occurred_at": "2026-11-02T23:30:00Z"}\n'
    )
    users = tmp_path / "users.json"
    users.write_text('{"kim": "Asia/Tokyo"}')
    code, out, _ = run(capsys, "simulate", "--events", str(events), "--users", str(users))
    assert code == 0
    # 23:30 UTC is the next morning in Tokyo: the award lands on the user's local day.
    assert "Code reviews on 2026-11-03 (Asia/Tokyo)" in out
    users.write_text('{"kim": "Mars/Olympus"}')
    code, _, err = run(capsys, "simulate", "--events", str(events), "--users", str(users))
    assert code == 1
    assert "unknown timezone 'Mars/Olympus'" in err


def test_backtest_reports_the_difference(capsys):
    code, out, _ = run(capsys, "backtest", "--draft", str(DRAFT))
    assert code == 0
    assert "software-teams v1 -> draft software-teams v2" in out
    assert "badges gained: merger" in out
    assert "badges lost:   none" in out
    code, out, _ = run(capsys, "backtest", "--draft", str(DRAFT), "--json")
    report = json.loads(out)
    assert report["totals"]["xp_delta"] == sum(u["xp_delta"] for u in report["users"])
    assert report["totals"]["badges_gained"]["merger"] >= 1
    assert report["totals"]["users"] == 8


def test_backtest_same_rules_changes_nothing(capsys):
    code, out, _ = run(capsys, "backtest", "--draft", str(DATA / "default_rules.yaml"), "--json")
    assert code == 0
    totals = json.loads(out)["totals"]
    assert totals["xp_delta"] == 0
    assert totals["users_changed"] == 0


def test_backtest_invalid_draft(capsys, tmp_path):
    draft = tmp_path / "draft.yaml"
    draft.write_text("ruleset: x\nversion: 2\n")
    code, _, err = run(capsys, "backtest", "--draft", str(draft))
    assert code == 1
    assert "levels" in err
    assert "metrics" in err


def test_bench_engine_writes_json(capsys, tmp_path):
    target = tmp_path / "bench.json"
    code, out, _ = run(
        capsys, "bench", "engine", "--users", "4", "--days", "3", "--repeat", "1", "--json", str(target)
    )
    assert code == 0
    result = json.loads(target.read_text())  # a load kit result, for BENCHMARKS.md
    assert result["scenario"] == "engine"
    figures = result["extra"]
    rates = [figures[f"{shape}: events/s (one core)"] for shape in ("live", "worker", "replay")]
    assert all(rate > 0 for rate in rates)
    assert result["summary"]["rates"]["events_per_s"] == rates[1]
    assert figures["same XP whatever the batching"] is True
    assert "events/s" in out


def test_bench_rejects_bad_numbers(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "engine", "--users", "0"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_console_script_is_installed():
    gamif = shutil.which("gamif", path=str(Path(sys.executable).parent))
    assert gamif is not None
    result = subprocess.run(
        [gamif, "rules", "check", str(DRAFT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "software-teams v2" in result.stdout
    result = subprocess.run([gamif, "rules"], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "ACTION" in result.stderr


def test_bench_fanout_takes_the_kits_own_options(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "fanout", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gamif bench fanout")
    assert "--pace {burst,lockstep}" in out
    with pytest.raises(SystemExit) as refused:
        main(["bench", "fanout", "--targets", "nginx"])
    assert refused.value.code == 2
    assert "choose from hub, starlette, websockets" in capsys.readouterr().err
