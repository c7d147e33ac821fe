"""The real-time hub: WebSocket sessions, the topics they watch, topic streams (sequenced delta history),
the cross-process bus and presence. It knows nothing of the business.

`streams` defines the extension points (`Streams`, `Bus`) and their semantics; `memory` implements them
in-process (embedded mode), `redis` on Redis (several hub processes). `node` is one process's hub,
`session` one connection; they see each other through the narrow interfaces of `host`. What only the
application knows (who a token belongs to, who may read a topic and its document, ingest over the
socket, kept notifications) the hub asks through the handlers it is built with (`handlers`), and
`wiring` builds its backend and the hub from the settings; `publish` is how anyone puts a change on a
topic.

May import: `protocol`, `persistence` (its Redis compatibility layer), `server.config`, `server.compat`
and `server.backoff`; never the services, the HTTP API, the app, the CLI or the worker (an import
contract in `pyproject.toml` says so). The application's side lives in `server.hub_handlers` and
`server.hub_wiring`.
"""
