"""The cyclic garbage collector's pauses, kept short in a serving process.

A server process holds a large heap that lives long (every session, topic stream and kept document,
besides the code and the rule set) and churns through objects that live a little while (a scoring
slice's rows, states and documents, alive across its awaits). CPython's defaults (700, 10, 10) promote
much of that churn to the oldest generation, so full collections come every second or two while events
are scored, and each one walks the whole heap on the event loop that serves the WebSockets: a couple of
hundred milliseconds with 500 sessions open, whatever the scoring does to keep its own slices short
(`gamif load embedded-ingest` measured it; issue 17).

So a serving process (`tune`): freezes what it holds once started (modules, the app: never garbage, no
longer walked by any collection), and collects the young generations less often, so that what a slice
allocates mostly dies before it is promoted. Full collections become rare (the live heap's growth, not
churn, then triggers them) and young ones stay in the milliseconds. Garbage is collected as before, only
in larger young batches.
"""

from __future__ import annotations

import gc

THRESHOLDS = (5_000, 20, 10)
"""Objects allocated (net) before a young collection, and young collections before the next older one:
measured under `gamif load embedded-ingest` against CPython's (700, 10, 10) and larger first thresholds
(whose young collections themselves grow to tens of milliseconds)."""


def tune() -> None:
    """Call once in a serving process, after its modules and app are built (before serving)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
