"""The load kit's reports (load_tests/kit/result.py, report_text.py, report_html.py, benchmarks.py,
report_cli.py): one result format, read back into a text table, an HTML page and BENCHMARKS.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from load_tests.kit import benchmarks, report_cli, report_html
from load_tests.kit.report_text import table
from load_tests.kit.result import Result, load_json, write_json


def make_result(scenario: str = "dashboard", intervals: int = 10, **overrides: object) -> Result:
    """A realistic dashboard run: ``intervals`` seconds, latency gaps in the first two intervals."""
    n = intervals
    errors: list[float | None] = [3 if i == n - 1 else 0 for i in range(n)]  # cumulative
    result: Result = {
        "kit": 1,
        "scenario": scenario,
        "title": f"{scenario}: 500 virtual users for {n} s",
        "command": f"gamif load {scenario} --users 500 --duration {n}",
        "started_at": "2026-11-24T11:00:00Z",
        "duration_s": n + 0.2,
        "options": {"users": 500, "duration": n, "slo": "p99<50ms", "redis": None},
        "machine": {"cpus": 2, "python": "3.11.2", "platform": "Linux-6.1-x86_64"},
        "summary": {
            "default_latency": "screen",
            "latency": {
                "screen": {
                    "count": 12345,
                    "p50_ms": 1.234,
                    "p90_ms": 3.4,
                    "p99_ms": 9.876,
                    "p99_9_ms": 14.0,
                    "max_ms": 20.1,
                    "mean_ms": 1.9,
                },
                "connect": {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None},
            },
            "counters": {"errors": 3, "missed": 0, "duplicated": 1, "closed": {"4008": 2, "1000": 7}},
            "rates": {
                "deliveries_per_s": 1250.0,
                "frames_per_s": 400.5,
                "events_per_s": 12.5,
                "connections": 500,
            },
        },
        "latency_notes": {"screen": "ingest -> the player's screen (event stamped at send)"},
        "generator": {"procs": 2, "cpu_percent": 35.0, "saturated": False},
        "server": {"rss_mb_start": 80.1, "rss_mb_peak": 120.3, "rss_mb_end": 118.0, "cpu_percent": 60.0},
        "series": {
            "t_s": [float(i + 1) for i in range(n)],
            "connections": [min(500.0, 100.0 * (i + 1)) for i in range(n)],
            "deliveries_per_s": [1200.0 + i for i in range(n)],
            "frames_per_s": [400.0 + i for i in range(n)],
            "bytes_per_s": [36_000.0 + 10 * i for i in range(n)],
            "events_per_s": [12.5] * n,
            "latency_p50_ms": [None, None] + [1.0 + i / 10 for i in range(n - 2)],
            "latency_p99_ms": [None, None] + [9.0 + i / 10 for i in range(n - 2)],
            "latency_max_ms": [None, None] + [20.0 - i / 10 for i in range(n - 2)],
            "errors": errors,
            "server_rss_mb": [80.0 + i for i in range(n)],
            "generator_cpu_percent": [30.0 + i % 5 for i in range(n)],
        },
        "extra": {"topics": 12, "ratio": 0.25, "per_topic": {"a": 1}},
        "slo": [
            {"check": "p99<50ms", "passed": True, "line": "PASS  p99 < 50 ms (measured 9.88)"},
            {"check": "errors=0", "passed": False, "line": "FAIL  errors = 0 (measured 3)"},
        ],
        "warnings": ["3 sessions closed by the server"],
        "notes": ["Redis on the same machine."],
    }
    result.update(overrides)  # type: ignore[typeddict-item]
    return result


# ------------------------------------------------------------------------------------------- result


def test_a_result_round_trips_through_json(tmp_path: Path) -> None:
    result = make_result()
    result["series"]["latency_p50_ms"][5] = float("nan")  # a division by zero in one interval
    write_json(result, tmp_path / "deep" / "run.json")
    loaded = load_json(tmp_path / "deep" / "run.json")
    assert loaded["summary"] == result["summary"]
    assert loaded["series"]["latency_p50_ms"][5] is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"scenario": "fanout"}', "no 'kit' key"),
        ("[1, 2]", "no 'kit' key"),
        ('{"kit": 2}', "version 2"),
        ("not json", "not JSON"),
    ],
)
def test_load_json_refuses_what_is_not_a_kit_result(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(reason)) as refused:
        load_json(path)
    assert str(path) in str(refused.value)


# --------------------------------------------------------------------------------------------- text


def test_the_table_has_the_numbers() -> None:
    text = table(make_result())
    lines = text.splitlines()
    assert lines[0] == "dashboard: 500 virtual users for 10 s"
    screen = next(line for line in lines if line.lstrip().startswith("screen"))
    assert screen.split()[:7] == ["screen*", "12,345", "1.23", "3.40", "9.88", "14.00", "20.10"]
    assert screen.endswith("ingest -> the player's screen (event stamped at send)")
    connect = next(line for line in lines if line.lstrip().startswith("connect "))
    assert connect.split() == ["connect", "0", "n/a", "n/a", "n/a", "n/a", "n/a"]  # p99.9 absent: n/a too
    header = next(line for line in lines if line.lstrip().startswith("latency (ms)"))
    assert header.index("p99.9") + len("p99.9") == screen.index("14.00") + len("14.00")  # right-aligned
    assert re.search(r"errors \.+ 3$", text, re.M)
    assert re.search(r"closed by code \.+ 1000: 7, 4008: 2$", text, re.M)
    assert re.search(r"deliveries/s \.+ 1,250\.0$", text, re.M)
    assert re.search(r"connections \(peak\) \.+ 500$", text, re.M)
    assert re.search(r"generator procs \.+ 2$", text, re.M)
    assert "35.0% of one core" in text
    assert "start 80.1 MB, peak 120.3 MB, end 118.0 MB" in text
    assert "WARN  3 sessions closed by the server" in lines
    assert lines[-2:] == ["PASS  p99 < 50 ms (measured 9.88)", "FAIL  errors = 0 (measured 3)"]


def test_the_table_reads_n_a_for_what_was_not_measured() -> None:
    result = make_result(
        slo=None, warnings=[], generator={"procs": 1, "cpu_percent": None, "saturated": True}
    )
    result["summary"] = {"latency": {}, "counters": {}, "rates": {}}
    del result["server"]
    text = table(result)
    assert "no histograms" in text
    assert re.search(r"errors \.+ n/a$", text, re.M)
    assert "events/s" not in text
    assert "SATURATED" in text
    assert "server RSS" not in text
    assert "PASS" not in text
    assert "FAIL" not in text


# --------------------------------------------------------------------------------------------- HTML


def polylines(page: str, plot: str) -> list[tuple[str, int]]:
    """(series, number of points) of each polyline of ``svg[data-plot=plot]``."""
    svg = re.search(rf'<svg data-plot="{plot}".*?</svg>', page, re.S)
    assert svg is not None, f"no {plot} plot"
    return [
        (series, len(points.split()))
        for series, points in re.findall(r'<polyline data-series="([^"]+)"[^>]*points="([^"]*)"', svg.group())
    ]


def test_the_page_has_every_plot_with_a_point_per_interval() -> None:
    page = report_html.render(make_result(intervals=12))
    assert re.findall(r'<svg data-plot="([^"]+)"', page) == [
        "latency",
        "throughput",
        "connections",
        "memory",
        "bytes",
    ]
    assert polylines(page, "latency") == [
        ("latency_p50_ms", 10),
        ("latency_p99_ms", 10),
        ("latency_max_ms", 10),
    ]
    assert polylines(page, "throughput") == [
        ("deliveries_per_s", 12),
        ("frames_per_s", 12),
        ("events_per_s", 12),
    ]
    assert polylines(page, "connections") == [("connections", 12)]
    assert polylines(page, "memory") == [("server_rss_mb", 12)]
    assert polylines(page, "bytes") == [("bytes_per_s", 12)]
    assert "nan" not in page.lower()
    assert "<script" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_the_page_has_the_summary_thresholds_and_warnings() -> None:
    page = report_html.render(make_result())
    assert "<title>dashboard: 500 virtual users for 10 s</title>" in page
    assert "2026-11-24T11:00:00Z" in page
    assert "10.2 s" in page
    assert "12,345" in page
    assert "9.88" in page
    assert '<li class="pass">PASS  p99 &lt; 50 ms (measured 9.88)</li>' in page
    assert '<li class="fail">FAIL  errors = 0 (measured 3)</li>' in page
    assert "3 sessions closed by the server" in page
    assert "<th>users</th><td>500</td>" in page
    assert "Redis on the same machine." in page


def test_a_gap_splits_a_polyline() -> None:
    result = make_result(intervals=10)
    result["series"]["connections"] = [1, 2, None, 4, 5, 6, None, None, 9, 10]
    result["series"]["frames_per_s"] = [None, 1.0, None, None, None, None, None, None, None, None]
    page = report_html.render(result)
    assert polylines(page, "connections") == [("connections", 2), ("connections", 3), ("connections", 2)]
    throughput = polylines(page, "throughput")
    assert ("frames_per_s", 1) in throughput
    assert '<circle data-series="frames_per_s"' in page  # a lone point stays visible


def test_optional_series_and_missing_data_still_render_axes() -> None:
    result = make_result(intervals=5)
    series = result["series"]
    del series["server_rss_mb"], series["events_per_s"]
    series["latency_p50_ms"] = [None] * 5
    series["latency_p99_ms"] = [None] * 5
    series["latency_max_ms"] = [None] * 5
    series["bytes_per_s"] = []
    page = report_html.render(result)
    assert 'data-plot="memory"' not in page
    assert [name for name, _ in polylines(page, "throughput")] == ["deliveries_per_s", "frames_per_s"]
    for plot in ("latency", "bytes"):
        svg = re.search(rf'<svg data-plot="{plot}".*?</svg>', page, re.S)
        assert svg is not None
        assert "no data" in svg.group()
        assert "<polyline" not in svg.group()
        assert 'class="tick"' in svg.group()
    assert "nan" not in page.lower()

    empty = make_result(intervals=0)
    assert "no data" in report_html.render(empty)


def test_every_text_is_escaped() -> None:
    hostile = "<script>alert('x')</script> & co"
    result = make_result(title=hostile, warnings=[hostile], notes=[hostile], command=hostile)
    result["slo"] = [{"check": "x", "passed": False, "line": hostile}]
    result["options"] = {hostile: hostile}
    result["latency_notes"] = {"screen": hostile}
    page = report_html.render(result)
    assert "<script>" not in page
    assert page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co") >= 8


# ------------------------------------------------------------------------------------------ benchmarks


def write_results(directory: Path) -> None:
    directory.mkdir()
    for name, scenario in [
        ("b-pipeline.json", "pipeline"),
        ("zeta.json", "zeta"),
        ("a-pipeline.json", "pipeline"),
        ("storm.json", "connect-storm"),
        ("alpha.json", "alpha"),
        ("fan.json", "fanout"),
    ]:
        write_json(make_result(scenario, notes=[f"observed on {name}"]), directory / name)
    (directory / "engine.json").write_text(json.dumps({"events_per_s": 100_000}))  # not a kit result


def test_benchmarks_are_ordered_and_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    write_results(results)
    assert benchmarks.main(["--results", str(results), "--out", "-"], prog="bench") == 0
    first = capsys.readouterr()
    assert "skipped" in first.err
    assert "engine.json" in first.err
    assert benchmarks.main(["--results", str(results), "--out", "-"], prog="bench") == 0
    assert capsys.readouterr().out == first.out
    text = first.out
    assert text.startswith("# Benchmarks\n")
    assert "python -m load_tests benchmarks" in text
    assert "do not edit by hand" in text
    assert "Machine: 2 CPUs, Python 3.11.2, Linux-6.1-x86_64." in text
    sections = re.findall(r"result `([^`]+)`", text)
    assert sections == [
        "storm.json",
        "fan.json",
        "a-pipeline.json",
        "b-pipeline.json",
        "alpha.json",
        "zeta.json",
    ]
    assert "```\ngamif load fanout --users 500 --duration 10\n```" in text
    assert "| screen\\* | 12,345 | 1.23 | 3.40 | 9.88 | 14.00 | 20.10 |" in text
    assert "- observed on fan.json" in text
    assert "FAIL  errors = 0 (measured 3)" in text
    assert "- deliveries/s: 1,250.0" in text
    assert "- server RSS: start 80.1 MB, peak 120.3 MB, end 118.0 MB" in text
    assert "- 3 sessions closed by the server" in text


def test_benchmarks_check_detects_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results, out = tmp_path / "results", tmp_path / "BENCHMARKS.md"
    write_results(results)
    argv = ["--results", str(results), "--out", str(out)]
    assert benchmarks.main([*argv, "--check"], prog="bench") == 1
    assert "is missing" in capsys.readouterr().out
    assert benchmarks.main(argv, prog="bench") == 0
    written = out.read_bytes()
    assert benchmarks.main([*argv, "--check"], prog="bench") == 0
    write_json(make_result("idle-soak"), results / "soak.json")
    assert benchmarks.main([*argv, "--check"], prog="bench") == 1
    assert f"{out} differs from the results" in capsys.readouterr().out
    assert out.read_bytes() == written  # --check writes nothing


# ------------------------------------------------------------------------------------------------ CLI


def test_report_prints_the_table_and_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_json(make_result(), tmp_path / "run.json")
    assert report_cli.main([str(tmp_path / "run.json")], prog="report") == 0
    out = capsys.readouterr().out
    assert out.startswith("dashboard: 500 virtual users for 10 s\n")
    assert str(tmp_path / "run.html") in out
    assert (tmp_path / "run.html").read_text().startswith("<!DOCTYPE html>")
    assert (
        report_cli.main([str(tmp_path / "run.json"), "--html", str(tmp_path / "x" / "r.html")], prog="r") == 0
    )
    assert (tmp_path / "x" / "r.html").is_file()


def test_report_refuses_a_file_that_is_not_a_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(SystemExit) as exited:
        report_cli.main([str(tmp_path / "other.json")], prog="report")
    assert exited.value.code == 2
    assert "not a load kit result" in capsys.readouterr().err
