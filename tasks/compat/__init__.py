"""Third-party internals of the task queue, behind one module per library: each module here is the
only place that touches that library's internals (see `persistence.compat`); `tests/compat/` checks
what each relies on against the installed version."""
