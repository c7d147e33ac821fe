"""The worker: taskiq processes that score queued metric events.

`worker` is the module taskiq's processes import (``tasks.worker:broker``): it wires the broker, the
rules, the scoring step and the live boards at start-up. `scoring` registers the scoring task;
`scoring_queue` is both ends of the queue (the Redis stream or, embedded, the ``queued_batches`` table);
`scoring_batcher` groups what is waiting into one transaction and retries through store outages;
`scoring_step` scores one group (engine, database, live push); `broker`, `receiver` and `dead_letters`
are the reliable stream broker (acknowledge after commit, re-claim, dead letters); `compat` holds
taskiq's and taskiq-redis's internals.

May import ``game``, ``protocol``, ``persistence`` and the services and hub publishing of ``server``;
never the HTTP layer or the entry points (``server.api``, ``server.app``, ``server.cli``), which import it.
"""
