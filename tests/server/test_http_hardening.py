"""A real `gamif serve` (uvicorn, embedded): the `/ws` Origin allow-list, the body read deadline,
a client leaving mid-body, and the security headers of `/`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.hub.cluster import HubProcess, Raw, hub_env, register
from tests.polling import until

BODY_SECONDS = 1
INLINE = "(self.__next_f=self.__next_f||[]).push([0])"


@pytest.fixture
async def hub(tmp_path: Path, redis_prefix: str) -> AsyncIterator[HubProcess]:
    env = hub_env(f"sqlite+aiosqlite:///{tmp_path}/hub.db", None, redis_prefix, tmp_path / "data")
    client = tmp_path / "client"  # a client of its own: whether the checkout's is built must not matter
    client.mkdir()
    (client / "index.html").write_text(f"<!doctype html><title>gamif</title><script>{INLINE}</script>")
    env |= {
        "GAMIF_BODY_READ_TIMEOUT_SECONDS": str(BODY_SECONDS),
        "GAMIF_DEMO_PULSE_SECONDS": "0",
        "GAMIF_CLIENT_DIR": str(client),
    }
    process = HubProcess("embedded", env)
    # Listening, not merely started up (uvicorn binds after the app's startup).
    await process.spawn(["serve", "--port", str(process.port)], "Uvicorn running on", "the hub")
    try:
        yield process
    finally:
        await process.stop()
        print("--- hub output ---\n" + "".join(process.output))


async def test_ws_accepts_its_own_origin_and_non_browsers_and_refuses_other_sites(hub: HubProcess) -> None:
    ana = await register(hub.http, "ana")
    for origin in (f"http://127.0.0.1:{hub.port}", f"http://localhost:{hub.port}", None):
        options = {} if origin is None else {"origin": origin}
        async with Raw.open(hub.ws, **options) as raw:
            welcome = await raw.login(ana.access_token)
            assert welcome.user_id == ana.user_id

    for origin in ("https://evil.example", f"http://127.0.0.1:{hub.port + 1}", "null"):
        with pytest.raises(InvalidStatus) as refused:
            async with Raw.open(hub.ws, origin=origin):
                pass
        response = refused.value.response
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert json.loads(response.body)["title"] == "Origin not allowed"


async def raw_request(
    hub: HubProcess, head: bytes, body: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    writer.write(head + body)
    await writer.drain()
    return reader, writer


def head(declared: int) -> bytes:
    return (
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()


async def test_a_body_shorter_than_announced_is_answered_408_and_the_connection_closed(
    hub: HubProcess,
) -> None:
    reader, writer = await raw_request(hub, head(100), b'{"login": "ana"')
    try:
        async with asyncio.timeout(BODY_SECONDS + 10):  # a bound for a broken server, not a wait
            answer = await reader.read()  # to EOF: the server closes the connection
    finally:
        writer.close()
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 408 Request Timeout"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in headers.lower()
    problem = json.loads(body)
    assert problem["status"] == 408
    assert problem["detail"] == f"the request body did not arrive within {BODY_SECONDS} s"
    assert "Traceback" not in "".join(hub.output)


async def test_a_client_leaving_mid_body_is_one_log_line(hub: HubProcess) -> None:
    _, writer = await raw_request(hub, head(100), b'{"login": ')
    writer.close()
    await writer.wait_closed()
    await until(
        lambda: any("disconnected before sending its whole body" in line for line in hub.output),
        "the server's log line for the abandoned body",
        timeout=10,
    )
    text = "".join(hub.output)
    assert "Traceback" not in text
    assert "POST /api/v1/auth/login" in text


async def test_the_page_at_root_carries_security_headers(hub: HubProcess) -> None:
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as http:
        home = await http.get("/")
    assert home.status_code == 200
    csp = dict(part.strip().split(" ", 1) for part in home.headers["content-security-policy"].split(";"))
    assert csp["frame-ancestors"] == "'none'"
    digest = base64.b64encode(hashlib.sha256(INLINE.encode()).digest()).decode()
    assert csp["script-src"] == f"'self' 'sha256-{digest}'"  # its inline script, by hash: nothing else
    assert csp["connect-src"] == f"'self' ws://127.0.0.1:{hub.port}"
    assert home.headers["x-content-type-options"] == "nosniff"
    assert home.headers["x-frame-options"] == "DENY"
