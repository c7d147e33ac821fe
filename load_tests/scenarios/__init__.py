"""The session scenarios of ``gamif load``: many virtual users over real WebSocket sessions (the
``protocol.client``), one module each (dashboard, challenge, fanout-board, connect-storm,
reconnect-storm, idle-soak), on the skeleton they share (`common`: options, target, client processes,
sampling, the end report and its thresholds)."""
