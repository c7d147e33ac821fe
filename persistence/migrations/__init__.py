"""Alembic migrations of the gamif schema (PostgreSQL and SQLite). Run them with `gamif migrate`."""
