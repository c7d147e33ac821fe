"""Baseline: a bare Starlette app under uvicorn, configured as `gamif serve` runs the hub.

``python -m load_tests.fanout.baseline_starlette --port PORT``. ``/ws`` accepts (with
``gamif.v1.msgpack`` when offered), keeps the socket in a set and reads until the client leaves.
``POST /publish`` with ``{"messages": M, "size": S}`` sends M messages of S bytes to every socket,
one ``await ws.send_bytes(payload)`` at a time: the simplest fan-out an application could write.
``GET /count`` and ``POST /gc`` let the driver wait for its connections and settle the heap.
"""

from __future__ import annotations

import argparse
import gc
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .hub_wire import SUBPROTOCOL

connections: set[WebSocket] = set()


async def subscriber(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    connections.add(websocket)
    try:
        while True:
            await websocket.receive_bytes()
    except (WebSocketDisconnect, RuntimeError):  # RuntimeError: a text frame, or receive after close
        pass
    finally:
        connections.discard(websocket)


async def publish(request: Request) -> JSONResponse:
    body = await request.json()
    payload = bytes(int(body["size"]))
    started = time.perf_counter()
    for _ in range(int(body["messages"])):
        for websocket in list(connections):
            await websocket.send_bytes(payload)
    return JSONResponse({"seconds": time.perf_counter() - started, "connections": len(connections)})


async def count(_: Request) -> JSONResponse:
    return JSONResponse({"connections": len(connections)})


async def collect_garbage(_: Request) -> JSONResponse:
    gc.collect()
    return JSONResponse({"connections": len(connections)})


app = Starlette(
    routes=[
        WebSocketRoute("/ws", subscriber),
        Route("/publish", publish, methods=["POST"]),
        Route("/count", count, methods=["GET"]),
        Route("/gc", collect_garbage, methods=["POST"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The hub's settings (server/cli/serve_commands.py), with its auto choices made explicit.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
