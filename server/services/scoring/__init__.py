"""Scoring, as the application sees it: the rules in force and their engine (`rules`), ingest
(validate, authorise, queue: `ingest`), the live push of a scored batch to its users' screens (`live`),
and the demo pulse.

The scoring step itself (one transaction per batch) and the queue are the worker's: ``tasks``.
May import what ``server.services`` may, and ``topics`` (the documents the push diffs).
"""
