"""The load kit's thresholds (load_tests/kit/slo.py): parsing ``--slo`` options, and checking a run's
summary against them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from load_tests.kit.slo import (
    Check,
    Metric,
    Op,
    Outcome,
    RunSummary,
    SloError,
    all_passed,
    evaluate,
    parse,
    parse_check,
)


def summary(**overrides: Any) -> dict[str, Any]:
    """A run's summary as the load kit writes it (JSON round-tripped: plain dicts, string keys)."""
    base: RunSummary = {
        "default_latency": "screen",
        "latency": {
            "screen": {
                "count": 1000,
                "p50_ms": 1.5,
                "p90_ms": 4.0,
                "p99_ms": 12.3,
                "p99_9_ms": 30.0,
                "max_ms": 41.25,
                "mean_ms": 2.0,
            },
            "connect": {
                "count": 20,
                "p50_ms": 80.0,
                "p90_ms": 120.0,
                "p99_ms": 150.0,
                "p99_9_ms": 190.0,
                "max_ms": 199.0,
                "mean_ms": 90.0,
            },
        },
        "counters": {"errors": 0, "missed": 0, "duplicated": 1, "closed": {"4008": 2, "1000": 20}},
        "rates": {"deliveries_per_s": 125000.5, "frames_per_s": 4000.0, "connections": 10000},
    }
    data: dict[str, Any] = json.loads(json.dumps(base))
    data.update(overrides)
    return data


def one(spec: str, data: dict[str, Any] | None = None) -> Outcome:
    outcomes = evaluate(parse(spec), summary() if data is None else data)
    assert len(outcomes) == 1
    return outcomes[0]


# ------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        ("p99<50ms", Metric("latency", "p99"), "<", 50.0),
        ("p50<=1ms", Metric("latency", "p50"), "<=", 1.0),
        ("p90>2.5ms", Metric("latency", "p90"), ">", 2.5),
        ("p99.9>=.5ms", Metric("latency", "p99.9"), ">=", 0.5),
        ("max=100ms", Metric("latency", "max"), "=", 100.0),
        ("mean==3ms", Metric("latency", "mean"), "=", 3.0),
        ("p99<0.05s", Metric("latency", "p99"), "<", 50.0),
        ("p99<50000us", Metric("latency", "p99"), "<", 50.0),
        ("p99<1.5s", Metric("latency", "p99"), "<", 1500.0),
        ("p99<250us", Metric("latency", "p99"), "<", 0.25),
        ("p99<0.007s", Metric("latency", "p99"), "<", 7.0),
        ("connect:p99<200ms", Metric("latency", "p99", histogram="connect"), "<", 200.0),
        ("screen:p99.9<50ms", Metric("latency", "p99.9", histogram="screen"), "<", 50.0),
        ("  connect : max <= 2 s ", Metric("latency", "max", histogram="connect"), "<=", 2000.0),
        ("errors=0", Metric("counter", "errors"), "=", 0.0),
        ("missed = 0", Metric("counter", "missed"), "=", 0.0),
        ("duplicated<3", Metric("counter", "duplicated"), "<", 3.0),
        ("closed:4008=0", Metric("closed", "4008"), "=", 0.0),
        ("closed : 1000 >= 10", Metric("closed", "1000"), ">=", 10.0),
        ("deliveries_per_s>=100000", Metric("rate", "deliveries_per_s"), ">=", 100000.0),
        ("frames_per_s>1500.5", Metric("rate", "frames_per_s"), ">", 1500.5),
        ("connections>=10000", Metric("rate", "connections"), ">=", 10000.0),
    ],
)
def test_parse_valid_check(text: str, metric: Metric, op: Op, value: float) -> None:
    assert parse_check(text) == Check(text=text.strip(), metric=metric, op=op, value=value)


def test_parse_list_keeps_order_and_strips_each_check() -> None:
    checks = parse(" p99<50ms , errors=0,connect:p99<200ms,closed:4008=0 ")
    assert [check.text for check in checks] == ["p99<50ms", "errors=0", "connect:p99<200ms", "closed:4008=0"]
    assert [check.metric.kind for check in checks] == ["latency", "counter", "latency", "closed"]
    assert [check.value for check in checks] == [50.0, 0.0, 200.0, 0.0]


def test_units_are_equivalent() -> None:
    values = {parse_check(text).value for text in ("p99<0.05s", "p99<50ms", "p99<50000us")}
    assert values == {50.0}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("p99<<5ms", "bad threshold 'p99<<5ms': expected METRIC OP VALUE, e.g. p99<50ms"),
        ("p99", "bad threshold 'p99': expected METRIC OP VALUE"),
        ("p99<", "bad threshold 'p99<': expected METRIC OP VALUE"),
        ("<50ms", "bad threshold '<50ms': expected METRIC OP VALUE"),
        ("p99!=5ms", "bad threshold 'p99!=5ms'"),
        ("p99<-5ms", "bad threshold 'p99<-5ms'"),
        ("p99<5e3ms", "bad threshold 'p99<5e3ms'"),
        ("p99<5.5.5ms", "bad threshold 'p99<5.5.5ms'"),
        ("p99 50ms", "bad threshold 'p99 50ms'"),
        ("p99<50", "give a unit: ms"),
        ("connect:p99<200", "bad threshold 'connect:p99<200': give a unit: ms"),
        ("p99<50m", "unknown unit 'm'"),
        ("p99<50MS", "unknown unit 'MS'"),
        ("p99<5min", "unknown unit 'min'"),
        ("errors=0ms", "bad threshold 'errors=0ms': errors is a count and takes no unit"),
        ("closed:4008=0s", "closed:4008 is a count and takes no unit"),
        ("frames_per_s>10ms", "frames_per_s is a rate and takes no unit"),
        ("p95<5ms", "unknown metric 'p95' in 'p95<5ms'"),
        ("latency<5ms", "unknown metric 'latency'"),
        ("closed=0", "closed needs a close code, e.g. closed:4008=0"),
        ("closed:abc=0", "a close code is a number"),
        ("connect:errors<5", "unknown latency statistic 'errors' in 'connect:errors<5'"),
        ("", "no thresholds given"),
        ("   ", "no thresholds given"),
        ("p99<50ms,", "empty threshold in 'p99<50ms,'"),
        ("p99<50ms,,errors=0", "empty threshold"),
        ("errors=0, p99<<5ms", "bad threshold 'p99<<5ms'"),
    ],
)
def test_parse_invalid(spec: str, fragment: str) -> None:
    with pytest.raises(SloError) as raised:
        parse(spec)
    assert fragment in str(raised.value)


def test_unknown_metric_lists_the_known_ones() -> None:
    with pytest.raises(SloError) as raised:
        parse("p95<5ms")
    message = str(raised.value)
    for known in ("p50", "p90", "p99", "p99.9", "max", "mean", "errors", "missed", "duplicated"):
        assert known in message
    for known in ("closed:CODE", "deliveries_per_s", "frames_per_s", "connections", "NAME:p99"):
        assert known in message


def test_slo_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad threshold"):
        parse_check("nonsense")


# ---------------------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("spec", "passed"),
    [
        # screen p99 is 12.3 ms
        ("p99<13ms", True),
        ("p99<12ms", False),
        ("p99<=12.3ms", True),
        ("p99<=12.2ms", False),
        ("p99>12ms", True),
        ("p99>12.3ms", False),
        ("p99>=12.3ms", True),
        ("p99>=12.4ms", False),
        ("p99=12.3ms", True),
        ("p99==12.3ms", True),
        ("p99=12ms", False),
        # errors is 0, duplicated 1
        ("errors=0", True),
        ("errors<1", True),
        ("duplicated=0", False),
        ("duplicated<=1", True),
        ("duplicated>1", False),
        ("duplicated>=1", True),
        # frames_per_s is 4000
        ("frames_per_s>3999.5", True),
        ("frames_per_s>4000", False),
        ("frames_per_s>=4000", True),
    ],
)
def test_each_operator(spec: str, passed: bool) -> None:
    assert one(spec).passed is passed


@pytest.mark.parametrize(("spec", "passed"), [("p99<=50ms", True), ("p99<50ms", False), ("p99>=50ms", True)])
def test_boundary_equality(spec: str, passed: bool) -> None:
    data = summary()
    data["latency"]["screen"]["p99_ms"] = 50.0
    outcome = one(spec, data)
    assert outcome.measured == 50.0
    assert outcome.passed is passed


@pytest.mark.parametrize("spec", ["p99<=0.05s", "p99<=50ms", "p99<=50000us"])
def test_unit_conversion_at_the_boundary(spec: str) -> None:
    data = summary()
    data["latency"]["screen"]["p99_ms"] = 50.0
    assert one(spec, data).passed
    data["latency"]["screen"]["p99_ms"] = 50.001
    assert not one(spec, data).passed


@pytest.mark.parametrize(
    ("spec", "measured"),
    [
        ("p50<1s", 1.5),
        ("p90<1s", 4.0),
        ("p99<1s", 12.3),
        ("p99.9<1s", 30.0),
        ("max<1s", 41.25),
        ("mean<1s", 2.0),
        ("connect:p50<1s", 80.0),
        ("connect:p99.9<1s", 190.0),
        ("screen:max<1s", 41.25),
        ("errors=0", 0.0),
        ("missed=0", 0.0),
        ("duplicated=1", 1.0),
        ("deliveries_per_s>0", 125000.5),
        ("frames_per_s>0", 4000.0),
        ("connections>0", 10000.0),
        ("closed:1000>0", 20.0),
    ],
)
def test_each_metric_reads_its_measurement(spec: str, measured: float) -> None:
    outcome = one(spec)
    assert outcome.measured == measured
    assert outcome.passed


def test_qualified_histograms_are_measured_separately() -> None:
    outcomes = evaluate(parse("p99<50ms,screen:p99<50ms,connect:p99<50ms,connect:p99<200ms"), summary())
    assert [o.subject for o in outcomes] == ["screen p99", "screen p99", "connect p99", "connect p99"]
    assert [o.measured for o in outcomes] == [12.3, 12.3, 150.0, 150.0]
    assert [o.passed for o in outcomes] == [True, True, False, True]


def test_the_default_histogram_is_the_summarys() -> None:
    outcome = one("p99<100ms", summary(default_latency="connect"))
    assert outcome.subject == "connect p99"
    assert outcome.measured == 150.0
    assert not outcome.passed


def test_closed_by_code() -> None:
    failing = one("closed:4008=0")
    assert failing.subject == "closed:4008"
    assert failing.measured == 2.0
    assert not failing.passed
    assert failing.describe() == "FAIL  closed:4008 = 0 (measured 2)"
    assert one("closed:4008<=2").passed


def test_a_close_code_never_seen_counts_as_zero() -> None:
    outcome = one("closed:1011=0")
    assert outcome.measured == 0.0
    assert outcome.passed


@pytest.mark.parametrize(
    ("spec", "data", "note"),
    [
        (
            "p99<50ms",
            summary(latency={"screen": {"count": 0, "p99_ms": None}}),
            "'screen' histogram is empty",
        ),
        ("p99<50ms", summary(latency={"screen": {"count": 5, "p99_ms": None}}), "no p99 in the 'screen'"),
        ("p99.9<50ms", summary(latency={"screen": {"count": 5}}), "no p99.9 in the 'screen'"),
        (
            "connect:p99<50ms",
            summary(latency={"screen": {"count": 5, "p99_ms": 1.0}}),
            "no 'connect' histogram",
        ),
        ("p99<50ms", summary(latency={}), "no 'screen' histogram"),
        ("p99<50ms", {"latency": {"screen": {"count": 5, "p99_ms": 1.0}}}, "names no default_latency"),
        ("errors=0", summary(counters={}), "no counters.errors"),
        ("missed=0", summary(counters={"missed": None}), "no counters.missed"),
        ("errors=0", summary(counters={"errors": True}), "no counters.errors"),
        ("closed:4008=0", summary(counters={"errors": 0}), "no counters.closed"),
        ("frames_per_s>0", summary(rates={}), "no rates.frames_per_s"),
        ("connections>0", {}, "no rates.connections"),
    ],
)
def test_missing_measurements_fail(spec: str, data: dict[str, Any], note: str) -> None:
    outcome = one(spec, data)
    assert outcome.measured is None
    assert not outcome.passed
    assert outcome.note is not None
    assert note in outcome.note
    assert "(not measured: " in outcome.describe()
    assert outcome.describe().startswith("FAIL  ")


def test_not_measured_fails_whatever_the_operator() -> None:
    data = summary(latency={"screen": {"count": 0}})
    outcomes = evaluate(parse("p99<1s,p99<=1s,p99>0ms,p99>=0ms,p99=0ms"), data)
    assert [o.passed for o in outcomes] == [False] * 5


# ---------------------------------------------------------------------------------------------- output


@pytest.mark.parametrize(
    ("spec", "line"),
    [
        ("p99<50ms", "PASS  screen p99 < 50 ms (measured 12.3 ms)"),
        ("p99<0.01s", "FAIL  screen p99 < 10 ms (measured 12.3 ms)"),
        ("p99<=250us", "FAIL  screen p99 <= 0.25 ms (measured 12.3 ms)"),
        ("connect:max>=199ms", "PASS  connect max >= 199 ms (measured 199 ms)"),
        ("mean==2ms", "PASS  screen mean = 2 ms (measured 2 ms)"),
        ("duplicated=0", "FAIL  duplicated = 0 (measured 1)"),
        ("deliveries_per_s>100000", "PASS  deliveries_per_s > 100000 (measured 125000.5)"),
    ],
)
def test_describe(spec: str, line: str) -> None:
    assert one(spec).describe() == line


def test_describe_errors_failing() -> None:
    data = summary()
    data["counters"]["errors"] = 3
    outcome = one("errors=0", data)
    assert outcome.text == "errors=0"
    assert outcome.describe() == "FAIL  errors = 0 (measured 3)"


def test_describe_not_measured() -> None:
    outcome = one("connect:p99<200ms", summary(latency={}))
    assert (
        outcome.describe()
        == "FAIL  connect p99 < 200 ms (not measured: no 'connect' histogram in the summary)"
    )


def test_all_passed() -> None:
    assert all_passed(evaluate(parse("p99<50ms,errors=0,connections>=10000"), summary()))
    assert not all_passed(evaluate(parse("p99<50ms,duplicated=0,connections>=10000"), summary()))
    assert not all_passed(
        evaluate(parse("p99<50ms,connect:p99<1s"), summary(latency={"screen": {"count": 1, "p99_ms": 1}}))
    )
    assert all_passed([])


def test_evaluate_accepts_a_typed_summary_and_keeps_check_order() -> None:
    typed: RunSummary = {
        "default_latency": "a",
        "latency": {"a": {"count": 1, "p99_ms": 5}},
        "counters": {"errors": 0},
    }
    outcomes = evaluate(parse("errors=0,p99<5ms,a:p99<=5ms"), typed)
    assert [o.text for o in outcomes] == ["errors=0", "p99<5ms", "a:p99<=5ms"]
    assert [o.passed for o in outcomes] == [True, False, True]
