"""The web client (the Next.js static export in ``client/out``) served at ``/`` next to the API.

Hashed build assets (``/_next/static/…``) never change under one name, so they are cached for a year;
pages revalidate. Both go out gzipped to browsers that accept it. Without a built client, ``/`` says
how to build one instead of a bare 404.

Every answer carries security headers (`security_headers`): a Content-Security-Policy, no MIME
sniffing, no framing by other sites, no referrer to other origins. The export's pages run inline
scripts (Next.js streams its React payload as ``self.__next_f.push(...)`` scripts in each page), so
each page's policy allows exactly its own inline scripts by their SHA-256 hashes (computed from the
file, once per version of it): no ``'unsafe-inline'`` for scripts. Styles may be inline (the pages
and the animation library set ``style`` attributes; styles cannot run code). ``connect-src`` allows
this origin, which includes its WebSocket (``/ws``) in current browsers, and the public URL's ``ws(s)``
origin spelled out for older ones.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
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


class _InlineScripts(HTMLParser):
    """Collects the text of every inline ``<script>`` (one without ``src``) of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._current = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.scripts.append("".join(self._current))
            self._current = None


def script_hashes(html: str) -> list[str]:
    """The CSP sources (``'sha256-…'``) of a page's inline scripts, in order, without repeats."""
    parser = _InlineScripts()
    parser.feed(html)
    parser.close()
    hashes = []
    for script in parser.scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
        source = f"'sha256-{digest}'"
        if source not in hashes:
            hashes.append(source)
    return hashes


def content_security_policy(script_sources: list[str], websocket_origin: str | None) -> str:
    connect = "'self'" + (f" {websocket_origin}" if websocket_origin else "")
    return "; ".join(
        (
            "default-src 'self'",
            "script-src " + " ".join(["'self'", *script_sources]),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            f"connect-src {connect}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(csp: str) -> dict[str, str]:
    return {
        "content-security-policy": csp,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",  # frame-ancestors, for browsers that predate it
        "referrer-policy": "same-origin",
    }


def websocket_origin(public_url: str) -> str:
    """``ws(s)://host[:port]`` of the public URL (where pages open ``/ws``)."""
    scheme, _, rest = public_url.partition("://")
    return ("wss" if scheme.lower() == "https" else "ws") + "://" + rest.split("/", 1)[0]


class ClientFiles(StaticFiles):
    def __init__(self, *, directory: Path, ws_origin: str | None) -> None:
        super().__init__(directory=directory, html=True)
        self.ws_origin = ws_origin
        self._plain_csp = content_security_policy([], ws_origin)
        self._page_csp: dict[tuple[str, int, int], str] = {}
        """By (file, mtime in ns, size): a page's policy, computed once per version of the file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if path.startswith("_next/static/") and response.status_code == 200:
            response.headers["cache-control"] = IMMUTABLE
        elif response.media_type == "text/html" or path.endswith((".html", ".txt")) or path in ("", "."):
            response.headers["cache-control"] = "no-cache"
        csp = self._plain_csp
        if response.media_type == "text/html" and isinstance(response, FileResponse):
            csp = self._csp_of(Path(response.path))
        response.headers.update(security_headers(csp))
        return response

    def _csp_of(self, page: Path) -> str:
        try:
            stat = page.stat()
        except OSError:
            return self._plain_csp
        key = (str(page), stat.st_mtime_ns, stat.st_size)
        csp = self._page_csp.get(key)
        if csp is None:
            html = page.read_text(encoding="utf-8", errors="replace")
            csp = self._page_csp[key] = content_security_policy(script_hashes(html), self.ws_origin)
        return csp


class ClientMount(Mount):
    """Takes only reads outside the API, so the API's own 404 and 405 problem bodies stay its own (a
    catch-all mount would fully match `DELETE /api/v1/me` and hide the route's 405)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and (scope["method"] not in ("GET", "HEAD") or _is_api(scope["path"])):
            return Match.NONE, {}
        return super().matches(scope)


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def client_routes(directory: Path | None, public_url: str | None = None) -> list[BaseRoute]:
    """Last in the route list: everything the API and the hub do not answer. ``public_url``: where
    pages open the hub's WebSocket (its ``ws(s)`` origin joins the policy's ``connect-src``)."""
    ws_origin = None if public_url is None else websocket_origin(public_url)
    if directory is None:
        headers = security_headers(content_security_policy([], ws_origin))

        async def not_built(request: Request) -> HTMLResponse:
            return HTMLResponse(NOT_BUILT, headers=headers)

        return [Route("/", not_built, methods=["GET", "HEAD"])]
    # Compressed on the way out (the scripts shrink about fourfold); hashed assets are fetched once anyway.
    files = GZipMiddleware(ClientFiles(directory=directory, ws_origin=ws_origin), minimum_size=1024)
    return [ClientMount("/", app=files, name="client")]
