"""Tasks: taskiq workers that score metric events with the engine, persist results and publish deltas.

Layering: a top layer beside ``server``. It may import ``game``, ``protocol`` and ``persistence``.
"""
