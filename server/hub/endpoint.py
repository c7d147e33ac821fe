"""``GET /ws``: the WebSocket endpoint of the hub (PROTOCOL.md §2). Thin: it negotiates the
subprotocol and hands the connection to a `Session`."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from protocol import SUBPROTOCOLS, Encoding
from server.config import Settings, origin_of

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


def _origin_allowed(websocket: WebSocket) -> bool:
    """Browsers send `Origin` with every WebSocket handshake and let any page open any socket: without
    this check, another site's page could use a visitor's hub session (cross-site WebSocket hijacking).
    A handshake without `Origin` does not come from a browser page and is let through."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    settings: Settings = websocket.app.state.settings
    return origin_of(origin) in settings.effective_ws_origins


async def hub_endpoint(websocket: WebSocket) -> None:
    hub: Hub | None = getattr(websocket.app.state, "hub", None)
    if hub is None:
        await _refuse(websocket, _denial(503, "Unavailable", "the hub is starting or stopping"))
        return
    if not _origin_allowed(websocket):
        detail = "pages of this origin may not open the hub (GAMIF_WS_ORIGINS lists those that may)"
        await _refuse(websocket, _denial(403, "Origin not allowed", detail))
        return
    offered = websocket.scope.get("subprotocols") or []
    chosen = next((name for name in SUBPROTOCOLS if name in offered), None)
    if chosen is None:
        detail = f"offer the subprotocol {' or '.join(SUBPROTOCOLS)} (Sec-WebSocket-Protocol)"
        await _refuse(websocket, _denial(400, "Unsupported subprotocol", detail))
        return
    await websocket.accept(subprotocol=chosen)
    await Session(hub, websocket, Encoding(chosen)).run()
