"""The application's services: what gamif does, behind the HTTP API, the hub's handlers, the CLI and the
worker, grouped by concept:

- ``people``: accounts, logins and their throttling, admin provisioning, profiles and a player's progress
  (their read models, the badge catalogue), teams, notifications, announcements;
- ``scoring``: the rules in force, ingest (validate, authorise, queue), the live push of scoring results,
  the demo pulse;
- ``topics``: the topics' documents and who may read them (the hub's directory), the compare-and-set
  push of live documents and its coalescing, the live outbox's relay and the team and feed documents,
  the activity feed, hub access;
- ``boards``: the leaderboards (on Redis or embedded), their repair, reads and rank notices;
- ``challenges``: team challenges, their lifecycle, scoreboards and scoring;

and the few modules every group shares: domain errors (`errors`), cursors (`pagination`), store-outage
classification (`store_outage`), checking values against a model (`validation`), background tasks.

May import: ``game``, ``protocol``, ``persistence``, ``server.auth``, ``server.config``, ``server.backoff``
and the hub's publishing API (``server.hub``). Never the HTTP layer (``server.api``), the hub's sessions,
the worker (``tasks``) or the entry points (``server.app``, ``server.cli``); services raise domain errors
(`errors`), which the HTTP layer and the hub each map in one table. Checked by import-linter (`make test`).
"""
