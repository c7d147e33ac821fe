"""Load tests: engine benchmarks and the load-testing kit that drives the wire protocol directly.

Layering: a tool layer. It may import ``game`` and ``protocol``; nothing of ours imports it.
"""
