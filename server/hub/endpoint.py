"""``GET /ws``: the WebSocket endpoint of the hub (PROTOCOL.md §2). Thin: it negotiates the
subprotocol and hands the connection to a `Session`."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from protocol import SUBPROTOCOLS, Encoding

from .node import Hub
from .session import Session


def _denial(status: int, title: str, detail: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


async def _refuse(websocket: WebSocket, response: Response) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:  # the server cannot send a body: a bare 403 it is
        await websocket.close()


async def hub_endpoint(websocket: WebSocket) -> None:
    hub: Hub | None = getattr(websocket.app.state, "hub", None)
    if hub is None:
        await _refuse(websocket, _denial(503, "Unavailable", "the hub is starting or stopping"))
        return
    offered = websocket.scope.get("subprotocols") or []
    chosen = next((name for name in SUBPROTOCOLS if name in offered), None)
    if chosen is None:
        detail = f"offer the subprotocol {' or '.join(SUBPROTOCOLS)} (Sec-WebSocket-Protocol)"
        await _refuse(websocket, _denial(400, "Unsupported subprotocol", detail))
        return
    await websocket.accept(subprotocol=chosen)
    await Session(hub, websocket, Encoding(chosen)).run()
