"""Persistence: SQLAlchemy 2 async models and repositories, plus Alembic migrations (PostgreSQL).

Layering: may import ``game`` (and ``protocol``); only ``tasks`` and ``server`` import it.
"""
