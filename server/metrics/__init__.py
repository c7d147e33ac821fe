"""Prometheus metrics: the families the services and the worker record (`families`), the collectors read
when a scrape comes (the hub's counters, the queue, the connection pool), ``GET /metrics`` and the HTTP
latency middleware of the server, and the worker's metrics port (multi-process)."""
