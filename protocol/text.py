"""Text that can be stored and shown: no NUL (PostgreSQL's text and JSONB cannot hold it) and no lone
surrogate (``"\\ud800"``: valid in JSON, but not Unicode text, so no driver can encode it).

One walk for every layer that takes text from outside: the protocol's ingest messages and the HTTP
API's request bodies (`server.api.schemas.Input`)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["unstorable_character"]

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def unstorable_character(value: Any) -> str | None:
    """The first NUL or lone surrogate in the strings of ``value`` (map keys included, at any depth),
    or None. Walked without recursion: a caller need not bound the depth first."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found = _UNSTORABLE.search(item)
            if found is not None:
                return found.group()
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return None
