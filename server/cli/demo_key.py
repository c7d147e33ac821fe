"""The demo integration's API key, stable across `gamif run` starts.

Keys are stored as digests only, so the plaintext is kept beside the other generated secrets, in
``<data_dir>/demo-api-key`` (mode 600): each start hands out the same key while it is still the demo
integration's live one, so a `KEY=...` set from an earlier run (and the README's ``$(cat ...)``) keeps
working. A missing, foreign or revoked key is replaced by a fresh one, and any other live demo key is
revoked (one at a time).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import begin_write
from persistence.models import ServiceAccount
from server.auth import InvalidApiKey, parse_api_key, verify_api_key
from server.services.people.accounts import Accounts
from server.services.scoring.demo_pulse import DEMO_INTEGRATION

DEMO_KEY_FILE = "demo-api-key"


async def demo_api_key(
    sessions: async_sessionmaker[AsyncSession], accounts: Accounts, data_dir: Path, now: datetime
) -> tuple[str, Path]:
    """The demo integration's key (the kept one if it is still live, else a new one) and its file."""
    path = data_dir / DEMO_KEY_FILE
    kept = _read(path)
    if kept is not None and await _live(sessions, kept):
        return kept, path
    async with sessions() as session, session.begin():
        await begin_write(session)
        await session.execute(
            update(ServiceAccount)
            .where(ServiceAccount.name == DEMO_INTEGRATION, ServiceAccount.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    _, key = await accounts.create_service_account(DEMO_INTEGRATION, ["metrics:write"], None)
    _write(path, key)
    return key, path


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def _live(sessions: async_sessionmaker[AsyncSession], key: str) -> bool:
    """Whether ``key`` is the demo integration's, and not revoked."""
    try:
        prefix, _ = parse_api_key(key)
    except InvalidApiKey:
        return False
    async with sessions() as session:
        account = await session.scalar(
            select(ServiceAccount).where(
                ServiceAccount.key_prefix == prefix,
                ServiceAccount.name == DEMO_INTEGRATION,
                ServiceAccount.revoked_at.is_(None),
            )
        )
    return account is not None and verify_api_key(key, account.key_hash)


def _write(path: Path, key: str) -> None:
    """Replace the file in one step, readable by its owner only (it is a credential)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)  # a leftover could have another mode: create it afresh
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    os.replace(tmp, path)
