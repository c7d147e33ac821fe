"""Baseline: the `websockets` library's own server and its `broadcast()`.

``python -m load_tests.fanout.baseline_websockets --port PORT``. Any path but ``/control`` is a
subscriber: kept in a set (``gamif.v1.msgpack`` selected when offered), read until it leaves. The
driver speaks JSON over one ``/control`` connection: ``{"op": "publish", "messages": M, "size": S}``
calls ``broadcast(connections, payload)`` M times (it writes to every socket synchronously, with no
backpressure); ``{"op": "count"}`` and ``{"op": "gc"}`` let it wait for its connections and settle the
heap. Each answer is a JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from typing import Any

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from .hub_wire import SUBPROTOCOL

CONTROL_PATH = "/control"

connections: set[ServerConnection] = set()


async def handler(websocket: ServerConnection) -> None:
    if websocket.request is not None and websocket.request.path == CONTROL_PATH:
        await control(websocket)
        return
    connections.add(websocket)
    try:
        async for _ in websocket:
            pass
    except ConnectionClosed:
        pass
    finally:
        connections.discard(websocket)


async def control(websocket: ServerConnection) -> None:
    async for message in websocket:
        command = json.loads(message)
        reply: dict[str, Any] = {}
        if command["op"] == "publish":
            payload = bytes(int(command["size"]))
            started = time.perf_counter()
            for _ in range(int(command["messages"])):
                broadcast(connections, payload)
            reply["seconds"] = time.perf_counter() - started
        elif command["op"] == "gc":
            gc.collect()
        reply["connections"] = len(connections)
        await websocket.send(json.dumps(reply))


async def run(host: str, port: int) -> None:
    async with serve(
        handler,
        host,
        port,
        compression=None,
        max_size=64 * 1024,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        # Like uvicorn's default: thousands of clients connect at once.
        backlog=2048,
    ) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
