"""`gamif load` (and `python -m load_tests`): one entry that lists the scenarios, each with its options."""

from __future__ import annotations

from pathlib import Path

import pytest

from load_tests.kit.cli import SCENARIOS
from load_tests.kit.options import command_line, public_options
from server.cli import main as gamif


def test_without_a_scenario_it_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert gamif(["load"]) == 2
    listed = capsys.readouterr().out
    assert listed.startswith("usage: gamif load SCENARIO")
    assert all(f"  {name} " in listed for name in SCENARIOS)


def test_an_unknown_scenario_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert gamif(["load", "stampede"]) == 2
    assert "unknown scenario 'stampede'" in capsys.readouterr().err


def test_a_scenario_gets_its_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        gamif(["load", "pipeline", "--slo", "p99<<5ms"])
    assert exited.value.code == 2
    assert "gamif load pipeline: error: bad threshold 'p99<<5ms'" in capsys.readouterr().err


def test_a_result_names_the_command_however_it_was_started() -> None:
    argv = ["/x/load_tests/__main__.py", "dashboard", "--users", "5", "--slo", "p99<1s,errors=0"]
    assert command_line("dashboard", argv) == "gamif load dashboard --users 5 --slo 'p99<1s,errors=0'"
    assert command_line("dashboard", ["gamif", "load", "dashboard"]) == "gamif load dashboard"


def test_store_urls_are_not_published() -> None:
    options = {"users": 5, "postgres_url": "postgresql://u:secret@h/db", "redis_url": "redis://:pw@h"}
    assert public_options(options) == {"users": 5}


def test_benchmarks_md_is_generated_from_the_saved_results(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """BENCHMARKS.md is what `gamif load benchmarks` makes of load_tests/results/: never stale."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert gamif(["load", "benchmarks", "--check"]) == 0, capsys.readouterr().err
