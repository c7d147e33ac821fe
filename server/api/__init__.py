"""The HTTP API (``/api/v1``, and ``/healthz`` and ``/readyz``): a small layer of our own on Starlette.

What it holds:

- `endpoints`: declaring an endpoint once (`Api.route`: method, path, auth, body, query, response,
  documented errors) and serving it: auth, reading and validating the body and query, serialising.
  A handler takes a `Call[Body, Query]`, typed as declared (mypy checks the two against each other).
- `services`: the typed services a handler reaches as ``call.services`` (built by `server.app`).
- `registry`: the two registries routes declare on (`api` under the prefix, `root` outside it).
- `routes`: the handlers, one module per area; thin: each calls a service and shapes its answer.
- `schemas`, `schemas_boards`: the request and response models.
- `openapi`, `docs`: the OpenAPI 3.1 document generated from the declarations, and its HTML page.
- `problems`: RFC 9457 problem bodies, and the one table from the services' domain errors to them.
- `body_deadline`: the middleware bounding how long a request body may take to arrive.

What it may import: the services (`server.services`), auth (`server.auth`), the settings, persistence
and the engine, the hub's `Hub` type (for `/hub`) and the app's live services (`server.hub_wiring`, for
the leaderboards' reads). Nothing below it imports it: the services speak domain errors
(`server.services.errors`), mapped here and, for the WebSocket, by the hub's handlers
(`server.hub_handlers`). Only `server.app` (and the CLI through it) builds on the package."""
