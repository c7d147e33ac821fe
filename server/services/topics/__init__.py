"""Topics (PROTOCOL.md §8, §9): what the hub's subscribers read, and the parts their documents are made of.

- `directory`: `TopicDirectory`, which topics exist, who may read them, and their snapshots;
- `documents`: the topic documents, built from rows already read (pure: no SQL, no I/O);
- `rows`: the database reads those documents are built from; `locks`: the row locks that order writers
  of one user or one team, and the order they take them in;
- `refused`: `TopicRefused`, a subscription the hub refuses;
- `activity`: the ``activity:global`` feed (its document);
- `coalesce`, `document_push`: how live documents are pushed (coalesced per topic, compare-and-set);
- `outbox_relay`: `OutboxRelay`, which publishes the live outbox after commits (versioned user deltas)
  and sweeps what a dead process left; `live_documents`: `LiveDocuments`, the team and feed documents
  it tells of their changes;
- `hub_access`: who a hub connection belongs to (its access token, checked) and their current teams.

May import: `game`, `protocol`, `persistence`, the server's shared plumbing (`server.backoff`,
`server.config`, `server.auth`) and the hub's streams, documents and publishing (never its session).
Only `directory` imports other services: those whose topics it serves (`server.services.boards`,
`server.services.challenges`) and the rules (`server.services.scoring.rules`). The rest of the package is
what those services build on, so it imports no other service: each would close an import cycle
(`tests/test_import_cycles.py`).
"""
