"""The web client (the Next.js static export in ``client/out``) served at ``/`` next to the API.

Hashed build assets (``/_next/static/…``) never change under one name, so they are cached for a year;
pages revalidate. Both go out gzipped to browsers that accept it. Without a built client, ``/`` says
how to build one instead of a bare 404.
"""

from __future__ import annotations

from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"

NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>gamif</title>
<body style="font-family: system-ui; background: #0b0b14; color: #e6e6f0; padding: 3rem; line-height: 1.5">
<h1>gamif is running</h1>
<p>The web client is not built. Build it with <code>make client</code> (or start with
<code>make run</code>, which builds it), then reload.
The API is at <a style="color:#a78bfa" href="/api/v1/docs">/api/v1/docs</a>.</p>
</body></html>"""


class ClientFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if path.startswith("_next/static/") and response.status_code == 200:
            response.headers["cache-control"] = IMMUTABLE
        elif response.media_type == "text/html" or path.endswith((".html", ".txt")) or path in ("", "."):
            response.headers["cache-control"] = "no-cache"
        return response


class ClientMount(Mount):
    """Takes only reads outside the API, so the API's own 404 and 405 problem bodies stay its own (a
    catch-all mount would fully match `DELETE /api/v1/me` and hide the route's 405)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and (scope["method"] not in ("GET", "HEAD") or _is_api(scope["path"])):
            return Match.NONE, {}
        return super().matches(scope)


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


async def _not_built(request: Request) -> HTMLResponse:
    return HTMLResponse(NOT_BUILT)


def client_routes(directory: Path | None) -> list[BaseRoute]:
    """Last in the route list: everything the API and the hub do not answer."""
    if directory is None:
        return [Route("/", _not_built, methods=["GET", "HEAD"])]
    # Compressed on the way out (the scripts shrink about fourfold); hashed assets are fetched once anyway.
    files = GZipMiddleware(ClientFiles(directory=directory, html=True), minimum_size=1024)
    return [ClientMount("/", app=files, name="client")]
