"""The hub's metrics, read from its plain counters (`server.hub.host.HubStats`) and its sessions when a
scrape comes: the fan-out itself pays an integer addition per frame, nothing of the metrics library."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from server.hub.host import SEND_BUFFER_PEAK_BOUNDS
from server.hub.node import Hub


class HubCollector(Collector):
    """Collects the hub that ``hub()`` returns (None while the app starts or stops: nothing then)."""

    def __init__(self, hub: Callable[[], Hub | None]) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self.hub()
        if hub is None:
            return
        stats = hub.stats
        sessions = GaugeMetricFamily(
            "gamif_hub_sessions",
            "Authenticated WebSocket sessions open on this node, by encoding.",
            labels=["encoding"],
        )
        by_encoding = Counter(str(session.encoding) for session in tuple(hub.sessions))
        for encoding in ("gamif.v1.msgpack", "gamif.v1.json"):
            sessions.add_metric([encoding], by_encoding.pop(encoding, 0))
        for encoding, count in by_encoding.items():
            sessions.add_metric([encoding], count)
        yield sessions
        yield GaugeMetricFamily(
            "gamif_hub_subscriptions",
            "Topic subscriptions of the sessions on this node (one session watching three topics: three).",
            value=sum(len(watchers) for watchers in tuple(hub.watchers.values())),
        )
        yield GaugeMetricFamily(
            "gamif_hub_topics",
            "Topics watched by at least one session on this node.",
            value=len(hub.watchers),
        )
        yield _counter(
            "gamif_hub_deltas_received",
            "Deltas the bus delivered for topics watched here.",
            stats.deltas_received,
        )
        yield _counter(
            "gamif_hub_deliveries",
            "Deltas sent to sessions (one per session that got it: the fan-out).",
            stats.deltas_sent,
        )
        yield _counter("gamif_hub_frames_sent", "WebSocket frames sent to sessions.", stats.frames_sent)
        yield _counter(
            "gamif_hub_sent_bytes", "Bytes of the WebSocket frames sent to sessions.", stats.bytes_sent
        )
        yield _counter(
            "gamif_hub_direct_writes",
            "Frames written straight to an idle connection (the broadcast fast path).",
            stats.direct_writes,
        )
        yield _counter(
            "gamif_hub_slow_consumer_closes",
            "Sessions closed with 4008 because more than GAMIF_HUB_SEND_BUFFER_BYTES waited for them.",
            stats.slow_consumers,
        )
        yield _counter(
            "gamif_hub_bus_reconnects",
            "Times the hub's bus lost Redis and connected again.",
            hub.bus.reconnects,
        )
        failures = CounterMetricFamily(
            "gamif_hub_auth_failures", "Refused WebSocket auth requests, by error code.", labels=["code"]
        )
        for code, count in sorted(stats.auth_failures.items()):
            failures.add_metric([code], count)
        yield failures
        closes = CounterMetricFamily(
            "gamif_hub_closes",
            "Ended WebSocket sessions by close code and by whom: `server` (the hub closed it with that code) "
            "or `client` (the connection ended otherwise: the client's code, `other` if not a standard one).",
            labels=["by", "code"],
        )
        for (by, code), count in sorted(stats.closes.items()):
            closes.add_metric([by, code], count)
        yield closes
        peaks = HistogramMetricFamily(
            "gamif_hub_send_buffer_peak_bytes",
            "Ended sessions by their send buffer's high-water mark (the most bytes that waited at once).",
        )
        buckets, running = [], 0
        for bound, count in zip(
            (*SEND_BUFFER_PEAK_BOUNDS, float("inf")), stats.send_buffer_peaks, strict=True
        ):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
        peaks.add_metric([], buckets, sum_value=stats.send_buffer_peak_sum)
        yield peaks

    def describe(self) -> Iterator[Metric]:
        return iter(())  # families known only when collected: registering checks no names


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
