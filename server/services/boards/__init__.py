"""Leaderboards: recording scored batches in the Redis boards and their live ``leaderboard:`` topics
(`live`), the embedded boards computed from the database (`embedded`), repairing Redis after a failed
record (`repair`), reads over HTTP (`reads`) and rank-change notices (`rank_notices`).

May import what ``server.services`` may, and ``topics`` (documents, document push, coalescing), ``scoring``
(the rules) and ``people`` (rank notices are notifications).
"""
