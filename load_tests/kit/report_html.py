"""A run's result as one self-contained HTML page: summary, thresholds, warnings, and plots over time.

Nothing is fetched: the style is inline and the plots are SVG drawn here (no JavaScript), so the page can
be attached to a CI run or mailed and still open years later. Each plot is an ``<svg data-plot="NAME">``
and each series a ``<polyline data-series="KEY">`` (KEY: its name under ``result["series"]``); a
``None`` value ends a polyline, so an interval without a measurement shows as a gap, not as a zero.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from .report_text import (
    LATENCY_COLUMNS,
    counter_pairs,
    fmt_machine,
    fmt_value,
    generator_pairs,
    latency_rows,
    rate_pairs,
    server_pairs,
)
from .result import Result

__all__ = ["plot", "render", "write"]

_WIDTH: Final = 760
_HEIGHT: Final = 260
_LEFT: Final = 64
_RIGHT: Final = 16
_TOP: Final = 36
_BOTTOM: Final = 36
_COLORS: Final = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd")

_PLOTS: Final[tuple[tuple[str, str, str, tuple[tuple[str, str], ...]], ...]] = (
    (
        "latency",
        "Latency per interval",
        "ms",
        (("latency_p50_ms", "p50"), ("latency_p99_ms", "p99"), ("latency_max_ms", "max")),
    ),
    (
        "throughput",
        "Throughput",
        "per second",
        (("deliveries_per_s", "deliveries/s"), ("frames_per_s", "frames/s"), ("events_per_s", "events/s")),
    ),
    ("connections", "Open connections", "connections", (("connections", "connections"),)),
    ("memory", "Server memory (RSS)", "MB", (("server_rss_mb", "server RSS"),)),
    ("bytes", "Bytes per second", "bytes/s", (("bytes_per_s", "bytes/s"),)),
)
"""(plot name, title, unit, ((series key, legend), ...)); an optional series (events/s, server RSS) is drawn
only when the result has it, and a plot left without series is not drawn."""
_OPTIONAL: Final = frozenset({"events_per_s", "server_rss_mb"})


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about ``ticks`` intervals."""
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 2.5, 5.0):
        if multiple * magnitude >= raw * (1 - 1e-9):
            return multiple * magnitude
    return 10.0 * magnitude


def _ticks(low: float, high: float) -> tuple[float, float, list[float]]:
    """Axis bounds widened to round ticks, and the ticks."""
    if high <= low:
        high = low + 1.0
    step = _step(high - low)
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    count = round((stop - start) / step)
    return start, stop, [start + i * step for i in range(count + 1)]


def _label(value: float) -> str:
    """Short tick labels: 2.5k, 1.2M, 0.25."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


def _segments(times: Sequence[object], values: Sequence[object]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive measured points; a ``None`` (or a missing time) ends a run."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for t, v in zip(times, values, strict=False):
        x, y = _finite(t), _finite(v)
        if x is None or y is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        runs.append(current)
    return runs


def plot(
    name: str,
    title: str,
    unit: str,
    times: Sequence[object],
    series: Sequence[tuple[str, str, Sequence[object]]],
) -> str:
    """One ``<svg data-plot=name>``: axes with round ticks, a legend, a polyline per run of each series.

    ``series`` is ``(key, legend, values)``; values are aligned with ``times`` (seconds into the run).
    """
    runs = [(key, legend, _segments(times, values)) for key, legend, values in series]
    points = [p for _, _, segments in runs for segment in segments for p in segment]
    known_times = [t for t in (_finite(t) for t in times) if t is not None]
    x_low, x_high, x_ticks = _ticks(min(known_times, default=0.0), max(known_times, default=1.0))
    y_values = [y for _, y in points]
    y_low, y_high, y_ticks = _ticks(min([0.0, *y_values]), max(y_values, default=1.0))
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    bottom = _TOP + plot_h

    def sx(x: float) -> float:
        return _LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def sy(y: float) -> float:
        return _TOP + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    out = [
        f'<svg data-plot="{_esc(name)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="{_esc(title)}">',
        f"<title>{_esc(title)}</title>",
        f'<text class="plot-title" x="{_LEFT}" y="14">{_esc(title)} ({_esc(unit)})</text>',
    ]
    for y in y_ticks:
        out.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{sy(y):.1f}" y2="{sy(y):.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{_label(y)}</text>'
        )
    for x in x_ticks:
        out.append(
            f'<line class="axis" x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{bottom}" y2="{bottom + 4}"/>'
            f'<text class="tick" x="{sx(x):.1f}" y="{bottom + 16}" text-anchor="middle">{_label(x)}</text>'
        )
    out.append(
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_TOP + plot_h}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{_TOP + plot_h}" y2="{_TOP + plot_h}"/>'
        f'<text class="tick" x="{_LEFT + plot_w}" y="{_HEIGHT - 4}" text-anchor="end">time (s)</text>'
    )
    legend_x = _LEFT
    for index, (key, legend, segments) in enumerate(runs):
        color = _COLORS[index % len(_COLORS)]
        out.append(
            f'<rect x="{legend_x}" y="22" width="12" height="4" fill="{color}"/>'
            f'<text class="legend" x="{legend_x + 16}" y="28">{_esc(legend)}</text>'
        )
        legend_x += 28 + 7 * len(legend)
        for segment in segments:
            coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in segment)
            out.append(
                f'<polyline data-series="{_esc(key)}" fill="none" stroke="{color}" stroke-width="1.5" '
                f'points="{coords}"/>'
            )
            if len(segment) == 1:  # a lone measurement between gaps: a polyline of one point is invisible
                x, y = segment[0]
                out.append(
                    f'<circle data-series="{_esc(key)}" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2" '
                    f'fill="{color}"/>'
                )
    if not points:
        out.append(
            f'<text class="no-data" x="{_LEFT + plot_w / 2:.1f}" y="{_TOP + plot_h / 2:.1f}" '
            'text-anchor="middle">no data</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _values(series: Mapping[str, object], key: str) -> Sequence[object]:
    values = series.get(key)
    return values if isinstance(values, list) else []


def _plots(result: Result) -> list[str]:
    series: Mapping[str, object] = result.get("series") or {}
    times = _values(series, "t_s")
    svgs = []
    for name, title, unit, lines in _PLOTS:
        chosen = [
            (key, legend, _values(series, key))
            for key, legend in lines
            if key not in _OPTIONAL or key in series
        ]
        if chosen:
            svgs.append(plot(name, title, unit, times, chosen))
    return svgs


def _pairs_table(pairs: Iterable[tuple[str, str]], css: str = "pairs") -> str:
    rows = "".join(f"<tr><th>{_esc(label)}</th><td>{_esc(value)}</td></tr>" for label, value in pairs)
    return f'<table class="{css}">{rows}</table>'


def _summary(result: Result) -> str:
    rows = latency_rows(result)
    parts = []
    if rows:
        head = "".join(f'<th class="num">{_esc(c)}</th>' for c in LATENCY_COLUMNS)
        body = "".join(
            f"<tr><th>{_esc(name)}</th>"
            + "".join(f'<td class="num">{_esc(cell)}</td>' for cell in cells)
            + f'<td class="note">{_esc(note)}</td></tr>'
            for name, cells, note in rows
        )
        parts.append(
            f'<table class="latency"><thead><tr><th>latency (ms)</th>{head}<th></th></tr></thead>'
            f"<tbody>{body}</tbody></table>"
        )
        if any(name.endswith("*") for name, _, _ in rows):
            parts.append(
                '<p class="hint">* the histogram <code>--slo</code> latency thresholds apply to '
                "by default</p>"
            )
    else:
        parts.append("<p>No latency histograms.</p>")
    parts.append(
        _pairs_table(
            counter_pairs(result) + rate_pairs(result) + generator_pairs(result) + server_pairs(result)
        )
    )
    return "\n".join(parts)


_STYLE: Final = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 800px; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note, p.hint, .meta { color: #666; }
code, pre { font-family: ui-monospace, monospace; background: #f4f4f4; padding: 0 3px; }
ul.slo { list-style: none; padding: 0; font-family: ui-monospace, monospace; white-space: pre; }
li.pass { color: #137333; } li.fail { color: #b3261e; font-weight: bold; }
ul.warnings li { color: #8a5300; }
svg { display: block; margin: 1em 0; max-width: 100%; height: auto; }
svg .grid { stroke: #eee; } svg .axis { stroke: #888; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .plot-title { font-weight: bold; font-size: 12px; }
svg .no-data { font-size: 14px; fill: #999; }
"""


def render(result: Result) -> str:
    """The whole page, as one HTML document."""
    title = result.get("title") or result.get("scenario") or "load run"
    duration = _finite(result.get("duration_s"))
    body = [
        f"<h1>{_esc(title)}</h1>",
        '<p class="meta">'
        f"scenario <b>{_esc(result.get('scenario', 'n/a'))}</b>"
        f" · started {_esc(result.get('started_at', 'n/a'))}"
        f" · duration {'n/a' if duration is None else f'{duration:.1f} s'}"
        + f" · machine {_esc(fmt_machine(result))}"
        + "</p>",
        f"<pre><code>{_esc(result.get('command', ''))}</code></pre>",
        "<h2>Summary</h2>",
        _summary(result),
    ]
    slo = result.get("slo")
    if slo:
        items = "".join(
            f'<li class="{"pass" if outcome.get("passed") else "fail"}">{_esc(outcome.get("line", ""))}</li>'
            for outcome in slo
        )
        body += ["<h2>Thresholds</h2>", f'<ul class="slo">{items}</ul>']
    warnings = result.get("warnings") or []
    if warnings:
        body += [
            "<h2>Warnings</h2>",
            '<ul class="warnings">' + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul>",
        ]
    body += ["<h2>Over time</h2>", *_plots(result)]
    options = result.get("options") or {}
    if options:
        body += ["<h2>Options</h2>", _pairs_table(((k, fmt_value(v)) for k, v in options.items()), "options")]
    extra = result.get("extra") or {}
    if extra:
        body += [
            "<h2>Scenario figures</h2>",
            _pairs_table(((k, fmt_value(v)) for k, v in extra.items()), "extra"),
        ]
    notes = result.get("notes") or []
    if notes:
        body += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>"]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write(result: Result, path: str | Path) -> None:
    """Write :func:`render`'s page to ``path`` (UTF-8), creating the parent directory."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(result), encoding="utf-8")
