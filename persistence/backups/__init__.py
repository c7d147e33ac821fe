"""Backups of the database and their restore: the archive (a tar of a manifest and the database's own
dump), PostgreSQL through ``pg_dump``/``pg_restore`` (custom format), embedded SQLite through its online
backup API, and the census (row counts, XP per user) that a restored database is checked against.

Layering: as `persistence` (imports ``persistence`` only); the ``gamif backup``/``restore`` commands
(`server.cli.backup_commands`) drive it and rebuild what Redis derives from the database.
"""

from .archive import BackupError, Manifest, extract_payload, read_manifest, write_archive
from .census import Census, compare, take_census

__all__ = [
    "BackupError",
    "Census",
    "Manifest",
    "compare",
    "extract_payload",
    "read_manifest",
    "take_census",
    "write_archive",
]
