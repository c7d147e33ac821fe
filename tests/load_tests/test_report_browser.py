"""The load kit's HTML report (load_tests/kit/report_html.py), opened in a real headless Chromium: the page
must stand on its own (no network), and every plot must actually be laid out and drawn."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright

from load_tests.kit import report_html
from load_tests.kit.result import Result
from tests.browser import CHROMIUM_ARGS, chromium

INTERVALS = 30


def dashboard_run() -> Result:
    """30 one-second intervals of a dashboard run; the first two have no latency samples yet (a gap)."""
    n = INTERVALS
    gap: list[float | None] = [None, None]
    return {
        "kit": 1,
        "scenario": "dashboard",
        "title": "Dashboard mix: 500 virtual users for 30 s",
        "command": "gamif load dashboard --users 500 --duration 30",
        "started_at": "2026-11-24T11:00:00Z",
        "duration_s": 30.2,
        "options": {"users": 500, "duration": 30},
        "machine": {"cpus": 2, "python": "3.11.2", "platform": "Linux-6.1-x86_64"},
        "summary": {
            "default_latency": "screen",
            "latency": {
                "screen": {
                    "count": 14_800,
                    "p50_ms": 1.2,
                    "p90_ms": 3.4,
                    "p99_ms": 9.8,
                    "p99_9_ms": 14.0,
                    "max_ms": 20.1,
                    "mean_ms": 1.9,
                },
            },
            "counters": {"errors": 0, "missed": 0, "duplicated": 0, "closed": {"4008": 2}},
            "rates": {
                "deliveries_per_s": 1250.0,
                "frames_per_s": 400.0,
                "events_per_s": 12.5,
                "connections": 500,
            },
        },
        "latency_notes": {"screen": "ingest -> the player's screen (event stamped at send)"},
        "generator": {"procs": 2, "cpu_percent": 35.0, "saturated": False},
        "server": {"rss_mb_start": 80.1, "rss_mb_peak": 120.3, "rss_mb_end": 118.0, "cpu_percent": 60.0},
        "series": {
            "t_s": [float(i + 1) for i in range(n)],
            "connections": [min(500.0, 50.0 * (i + 1)) for i in range(n)],
            "deliveries_per_s": [1250.0 + (i % 7) * 10 for i in range(n)],
            "frames_per_s": [400.0 + (i % 3) * 5 for i in range(n)],
            "bytes_per_s": [36_000.0 + (i % 5) * 400 for i in range(n)],
            "events_per_s": [12.5 for _ in range(n)],
            "latency_p50_ms": gap + [1.0 + (i % 4) / 10 for i in range(n - 2)],
            "latency_p99_ms": gap + [9.0 + (i % 6) / 5 for i in range(n - 2)],
            "latency_max_ms": gap + [15.0 + (i % 9) for i in range(n - 2)],
            "errors": [0 for _ in range(n)],
            "server_rss_mb": [80.0 + i * 1.3 for i in range(n)],
            "generator_cpu_percent": [30.0 + i % 10 for i in range(n)],
        },
        "extra": {},
        "slo": [{"check": "p99<50ms", "passed": True, "line": "PASS  p99 < 50 ms (measured 9.8)"}],
        "warnings": [],
    }


EXPECTED = {
    "latency": {
        "latency_p50_ms": INTERVALS - 2,
        "latency_p99_ms": INTERVALS - 2,
        "latency_max_ms": INTERVALS - 2,
    },
    "throughput": {"deliveries_per_s": INTERVALS, "frames_per_s": INTERVALS, "events_per_s": INTERVALS},
    "connections": {"connections": INTERVALS},
    "memory": {"server_rss_mb": INTERVALS},
    "bytes": {"bytes_per_s": INTERVALS},
}
"""Plot -> series -> points of its one polyline."""


async def test_the_report_renders_every_plot_in_a_browser(tmp_path: Path) -> None:
    executable = chromium()
    page_path = tmp_path / "dashboard.html"
    report_html.write(dashboard_run(), page_path)
    requests: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1000, "height": 800})
            page.on("request", lambda request: requests.append(request.url))
            await page.goto(page_path.as_uri())
            assert await page.title() == "Dashboard mix: 500 virtual users for 30 s"
            assert await page.locator("h1").inner_text() == "Dashboard mix: 500 virtual users for 30 s"
            for plot, series in EXPECTED.items():
                svg = page.locator(f'svg[data-plot="{plot}"]')
                assert await svg.count() == 1, plot
                assert await svg.is_visible(), plot
                box = await svg.bounding_box()
                assert box is not None, plot
                assert box["width"] > 0, plot
                assert box["height"] > 0, plot
                drawn = await svg.locator("polyline").evaluate_all(
                    "lines => lines.map(l => [l.dataset.series, l.points.numberOfItems, "
                    "l.getAttribute('points').trim().split(/\\s+/).length])"
                )
                assert {name: count for name, count, _ in drawn} == series, plot
                assert all(parsed == count for _, count, parsed in drawn), plot
            assert await page.locator("li.pass").inner_text() == "PASS  p99 < 50 ms (measured 9.8)"
            color = await page.locator("li.pass").evaluate("li => getComputedStyle(li).color")
            assert color == "rgb(19, 115, 51)"  # passed thresholds in green
            screenshot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(screenshot), full_page=True)
        finally:
            await browser.close()
    assert requests == [page_path.as_uri()]  # self-contained: nothing fetched but the page itself
    png = screenshot.read_bytes()
    assert len(png) > 1000
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
