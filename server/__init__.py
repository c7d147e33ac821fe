"""Server: the Starlette HTTP API (metric ingest), the WebSocket hub and the ``gamif`` CLI.

Layering: the top layer. It may import ``game``, ``protocol``, ``persistence`` and ``tasks``;
nothing of ours imports it.
"""
