"""Server: the Starlette HTTP API (metric ingest), the WebSocket hub and the ``gamif`` CLI.

Layering: the top layer. It may import ``game``, ``protocol``, ``persistence`` and ``tasks``;
nothing of ours imports it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gamif")
except PackageNotFoundError:  # pragma: no cover (running from a source tree that was never installed)
    __version__ = "0.0.0"
