"""Fan-out benchmark: one topic to N subscribers, the gamif hub against two baselines in one run.

Run it (a few minutes on 2 vCPUs; Redis on 127.0.0.1:6379 for the hub target)::

    .venv/bin/python -m load_tests.fanout --json load_tests/results/fanout.json

Targets, each on its own fresh server process, one after the other:

- ``hub``: ``gamif serve`` (`hub_target`), deltas published through Redis by `server.hub.publish`;
- ``starlette``: a bare Starlette app under uvicorn with the hub's settings (`baseline_starlette`),
  ``for ws in conns: await ws.send_bytes(payload)``;
- ``websockets``: the websockets library's server and ``broadcast()`` (`baseline_websockets`).

Measured per target: deliveries/s and frames/s for each subscriber count (1,000 and 5,000 by default),
at the load clients from first to last receive, with every client checked to have every message; and
the server's RSS per idle connection at 10,000 connections (hub: authenticated and subscribed). The
load clients (`client_process`, `subscriber`) are raw-protocol asyncio processes cheap enough not to be
the bottleneck; their CPU is reported, and a warning is printed when one is above 90%.

Modules: `cli` (the command), `run` (the phases), `results` (what is reported), `pool` and `commands`
(the driver and its client processes), `subscriber`, `ws_wire` and `hub_wire` (the client's wire),
`targets` and `hub_target` (the servers), `procfs` (memory and CPU of a process).
"""
