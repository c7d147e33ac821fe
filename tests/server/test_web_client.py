"""The web client's static export served at `/` (server/web_client.py): pages, cached assets, and the
API's own 404s left as problem bodies; without a built client, `/` says how to build it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.app import create_app
from server.config import ConfigError, Settings, load_settings


def built_client(root: Path) -> Path:
    out = root / "out"
    (out / "login").mkdir(parents=True)
    (out / "_next" / "static" / "chunks").mkdir(parents=True)
    (out / "index.html").write_text("<!doctype html><title>dashboard</title>")
    (out / "login" / "index.html").write_text("<!doctype html><title>login</title>")
    (out / "404.html").write_text("<!doctype html><title>not here</title>")
    (out / "_next" / "static" / "chunks" / "app-1a2b.js").write_text("console.log(1)")
    (out / "_next" / "static" / "chunks" / "big-3c4d.js").write_text("console.log('a long script');\n" * 500)
    return out


async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gamif.test") as client:
            yield client


@pytest.fixture
async def with_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path / "data", client_dir=built_client(tmp_path))
    async for client in serve(settings):
        yield client


async def test_pages_are_served_and_revalidated(with_client: httpx.AsyncClient) -> None:
    home = await with_client.get("/")
    assert home.status_code == 200
    assert "<title>dashboard</title>" in home.text
    assert home.headers["cache-control"] == "no-cache"

    login = await with_client.get("/login/")
    assert login.status_code == 200
    assert "<title>login</title>" in login.text

    redirected = await with_client.get("/login")  # trailing-slash pages: /login -> /login/
    assert redirected.status_code in (301, 307, 308)
    assert redirected.headers["location"].endswith("/login/")


async def test_hashed_assets_are_cached_for_a_year(with_client: httpx.AsyncClient) -> None:
    asset = await with_client.get("/_next/static/chunks/app-1a2b.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_scripts_go_out_compressed_to_browsers_that_accept_it(with_client: httpx.AsyncClient) -> None:
    path = "/_next/static/chunks/big-3c4d.js"
    plain = await with_client.get(path, headers={"accept-encoding": "identity"})
    zipped = await with_client.get(path, headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 4
    assert zipped.text == plain.text  # httpx decodes it: the same script
    assert zipped.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_an_unknown_page_is_the_clients_404(with_client: httpx.AsyncClient) -> None:
    missing = await with_client.get("/no/such/page/")
    assert missing.status_code == 404
    assert "<title>not here</title>" in missing.text


async def test_the_api_keeps_its_problem_bodies(with_client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nope", "/api/v2/me", "/api"):
        response = await with_client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json"), path
    health = await with_client.get("/healthz")
    assert health.status_code == 200


async def test_without_a_built_client_the_root_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Settings, "effective_client_dir", property(lambda self: None))
    async for client in serve(Settings(data_dir=tmp_path / "data")):
        root = await client.get("/")
        assert root.status_code == 200
        assert "make client" in root.text
        missing = await client.get("/api/v1/nope")
        assert missing.headers["content-type"].startswith("application/problem+json")


def test_a_client_dir_without_a_build_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIF_CLIENT_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"GAMIF_CLIENT_DIR: .*make client"):
        load_settings()


async def test_cross_origin_calls_only_from_configured_origins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", cors_origins="http://localhost:3000")  # type: ignore[arg-type]
    async for client in serve(settings):
        preflight = {"origin": "http://localhost:3000", "access-control-request-method": "POST"}
        allowed = await client.options("/api/v1/auth/login", headers=preflight)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"

        foreign = {**preflight, "origin": "http://evil.example"}
        refused = await client.options("/api/v1/auth/login", headers=foreign)
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


def test_origins_must_be_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIF_CORS_ORIGINS", "localhost:3000")
    with pytest.raises(ConfigError, match="GAMIF_CORS_ORIGINS"):
        load_settings()


async def test_pages_allow_exactly_their_own_inline_scripts(tmp_path: Path) -> None:
    out = built_client(tmp_path)
    push = 'self.__next_f.push([1,"a payload with \\u003c and & in it"])'
    (out / "index.html").write_text(
        "<!doctype html><title>dashboard</title>"
        "<script src='/_next/static/chunks/app-1a2b.js' async></script>"
        f"<script>(self.__next_f=self.__next_f||[]).push([0])</script><script>{push}</script>"
    )
    settings = Settings(data_dir=tmp_path / "data", client_dir=out, public_url="https://gamif.example.com")
    async for client in serve(settings):
        home = await client.get("/")
        asset = await client.get("/_next/static/chunks/app-1a2b.js")
        missing = await client.get("/no/such/page/")
    policy = dict(part.strip().split(" ", 1) for part in home.headers["content-security-policy"].split(";"))
    expected = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in ("(self.__next_f=self.__next_f||[]).push([0])", push)
    ]
    assert policy["script-src"].split() == ["'self'", *expected]  # no 'unsafe-inline' for scripts
    assert policy["connect-src"] == "'self' wss://gamif.example.com"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    for response in (home, asset, missing):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
