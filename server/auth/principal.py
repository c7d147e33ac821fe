"""Who is calling: a person (from an access token) or a service account (from an API key).

Below the HTTP layer on purpose: the services that authorise (ingest, accounts) and the hub take it, and
none of them may import the API (`server.api.endpoints` only re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (from an access token) or a service account (from an API key)."""

    kind: Literal["user", "service"]
    id: str
    role: str = "player"
    scopes: frozenset[str] = frozenset()
    metrics: frozenset[str] | None = None
    """For a service account: the metric types it may write (None: all)."""

    @property
    def is_admin(self) -> bool:
        return self.kind == "user" and self.role == "admin"

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"
