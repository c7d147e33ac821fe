"""A backup file: an ordinary tar archive (``tar tf`` lists it) of two members, ``manifest.json`` first,
then the payload, the database's own dump (PostgreSQL: ``pg_dump --format=custom``, already compressed;
SQLite: the database file, in a gzip-compressed tar). The manifest says what the payload is, so that a
restore refuses the wrong kind of store, a schema it does not know and a damaged file before it touches
anything: the store, the schema's Alembic revision, the gamif version, when and from where (the URL
without its password), the payload's size and SHA-256, and the census of what it holds.

A backup is written to a temporary file beside its destination and renamed over it when complete: a
file with the final name is always a whole backup."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import tarfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from .census import Census

FORMAT = "gamif-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOADS = {"postgresql": "database.pgdump", "sqlite": "gamif.sqlite3"}

Store = Literal["postgresql", "sqlite"]


class BackupError(Exception):
    """A backup or a restore that cannot go on: the message is one line, fit for an operator."""


@dataclass(frozen=True, slots=True)
class Manifest:
    store: Store
    schema_revision: str | None
    gamif_version: str
    created_at: str
    source: str
    payload_bytes: int
    payload_sha256: str
    census: Census

    @property
    def payload_name(self) -> str:
        return PAYLOADS[self.store]

    @property
    def store_name(self) -> str:
        return "PostgreSQL" if self.store == "postgresql" else "embedded SQLite"

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "store": self.store,
            "schema_revision": self.schema_revision,
            "gamif_version": self.gamif_version,
            "created_at": self.created_at,
            "source": self.source,
            "payload": {
                "name": self.payload_name,
                "bytes": self.payload_bytes,
                "sha256": self.payload_sha256,
            },
            "census": self.census.as_json(),
        }

    @classmethod
    def from_json(cls, value: Any) -> Manifest:
        if not isinstance(value, dict) or value.get("format") != FORMAT:
            raise BackupError("not a gamif backup (its manifest is not a gamif backup's)")
        if value.get("format_version") != FORMAT_VERSION:
            raise BackupError(
                f"a gamif backup of format version {value.get('format_version')!r}: this gamif reads version "
                f"{FORMAT_VERSION} (restore it with the gamif that made it, {value.get('gamif_version')})"
            )
        try:
            store = value["store"]
            if store not in PAYLOADS:
                raise ValueError(f"unknown store {store!r}")
            revision = value["schema_revision"]
            if revision is not None and not isinstance(revision, str):
                raise ValueError("schema_revision is not a string")
            payload = value["payload"]
            size, digest = payload["bytes"], payload["sha256"]
            if not isinstance(size, int) or not isinstance(digest, str) or payload["name"] != PAYLOADS[store]:
                raise ValueError("payload is not {name, bytes, sha256}")
            return cls(
                store=store,
                schema_revision=revision,
                gamif_version=str(value["gamif_version"]),
                created_at=str(value["created_at"]),
                source=str(value["source"]),
                payload_bytes=size,
                payload_sha256=digest,
                census=Census.from_json(value["census"], revision),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise BackupError(f"the backup's manifest is damaged: {error}") from None


def new_manifest(store: Store, census: Census, payload: Path, *, gamif_version: str, source: str) -> Manifest:
    size, digest = _digest(payload)
    return Manifest(
        store=store,
        schema_revision=census.revision,
        gamif_version=gamif_version,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
        payload_bytes=size,
        payload_sha256=digest,
        census=census,
    )


def write_archive(destination: Path, manifest: Manifest, payload: Path) -> int:
    """Write the backup file atomically (a temporary file beside it, renamed); its size in bytes."""
    destination = destination.absolute()
    temporary = destination.parent / f".{destination.name}.{secrets.token_hex(4)}.partial"
    body = json.dumps(manifest.as_json(), indent=2, sort_keys=True).encode()
    try:
        # The PostgreSQL dump is compressed already; an SQLite file compresses well.
        with tarfile.open(temporary, "w:gz" if manifest.store == "sqlite" else "w") as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(datetime.now(UTC).timestamp()), 0o600
            tar.addfile(info, io.BytesIO(body))
            tar.add(payload, arcname=manifest.payload_name, recursive=False, filter=_private)
        os.chmod(temporary, 0o600)  # it holds password hashes and refresh tokens
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _fsync_directory(destination.parent)
    return destination.stat().st_size


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup at `path`, or `BackupError` saying why there is none."""
    if not path.exists():
        raise BackupError(f"{path}: no such file")
    if not path.is_file():
        raise BackupError(f"{path}: not a file")
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST or not member.isfile():
                raise BackupError(f"{path}: not a gamif backup (no {MANIFEST} at its start)")
            reader = tar.extractfile(member)
            assert reader is not None
            raw = reader.read()
    except _DAMAGED as error:
        raise BackupError(f"{path}: not a gamif backup, or damaged ({_reason(error)})") from None
    try:
        value = json.loads(raw)
    except ValueError:
        raise BackupError(f"{path}: the backup's manifest is damaged (not JSON)") from None
    return Manifest.from_json(value)


def extract_payload(path: Path, manifest: Manifest, directory: Path) -> Path:
    """Copy the backup's payload into `directory`, checking its size and SHA-256 against the manifest."""
    target = directory / manifest.payload_name
    digest = hashlib.sha256()
    size = 0
    try:
        with tarfile.open(path, "r:*") as tar:
            member = None
            for candidate in tar:
                if candidate.name == manifest.payload_name and candidate.isfile():
                    member = candidate
                    break
            if member is None:
                raise BackupError(f"{path}: damaged: the archive has no {manifest.payload_name}")
            reader = tar.extractfile(member)
            assert reader is not None
            with open(target, "wb") as out:
                while chunk := reader.read(1 << 20):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    except _DAMAGED as error:
        raise BackupError(f"{path}: damaged: {_reason(error)}") from None
    if size != manifest.payload_bytes or digest.hexdigest() != manifest.payload_sha256:
        raise BackupError(
            f"{path}: damaged: its {manifest.payload_name} has {size:,} bytes with SHA-256 "
            f"{digest.hexdigest()[:16]}…, the manifest says {manifest.payload_bytes:,} bytes, "
            f"{manifest.payload_sha256[:16]}…"
        )
    return target


_DAMAGED = (tarfile.TarError, EOFError, zlib.error, OSError)


def _reason(error: BaseException) -> str:
    if isinstance(error, EOFError):
        return "the file ends early (truncated?)"
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    # The rename is durable once the directory is on disk too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
