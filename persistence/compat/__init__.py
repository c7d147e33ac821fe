"""Third-party internals, behind one module per library: each module here is the only place that
touches that library's internals (private names, hand-driven connections, undocumented attributes).

Everything else uses them through the plain functions and small classes these modules define, so an
upgrade of the library breaks in one place, and `tests/compat/` says where: its contract tests check,
against the installed versions, exactly what each module relies on.

The modules of the layers above follow the same rule in their own ``compat`` packages
(`tasks.compat`, `server.compat`); this one is in `persistence` because the leaderboards, the lowest
user, need it.
"""
