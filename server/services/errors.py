"""What a service refuses, said in the domain's terms: the typed errors every service raises.

Services know nothing of the ways they are reached: the HTTP layer turns each of these into an RFC 9457
problem (`server.api.problems`, one table: status, type and title) and the WebSocket hub into a protocol
error code (`server.hub_handlers`, one table). So this module imports nothing of either, and a new kind of
refusal is a new class here plus a row in each table, never a status code in a service.

Each error carries a ``detail`` for people and, where inputs are at fault, ``errors``: one `FieldIssue`
per field, in the order found. Subclasses narrow a kind (`QueueUnavailable` is an `Unavailable`); a table
that has no row for the subclass answers with its parent's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One invalid input: where (a dotted path, e.g. ``users.3.email``), what is wrong, and a code."""

    field: str
    message: str
    code: str


class DomainError(Exception):
    """The base of every refusal a service raises on purpose (anything else is a bug, or a store down)."""

    def __init__(self, detail: str, errors: Sequence[FieldIssue] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)


class NotFound(DomainError):
    """What the caller names does not exist (or the caller may not know that it does)."""

    @classmethod
    def named(cls, what: str) -> NotFound:
        return cls(f"{what} does not exist")


class Conflict(DomainError):
    """The request clashes with the current state: taken, stale, archived, finished..."""


class Invalid(DomainError):
    """The input is wrong, each problem at its field (``errors``)."""


class InvalidRules(Invalid):
    """A rule set the engine refuses: each error at its path in the YAML document."""


class Forbidden(DomainError):
    """The caller is known, and may not do this."""


class RegistrationClosed(Forbidden):
    """Self-registration is off here (``GAMIF_REGISTRATION=closed``)."""


class InvitationRequired(Forbidden):
    """Self-registration needs an invitation here, and none was given."""


class Unauthenticated(DomainError):
    """Who is calling cannot be established: a wrong password, a bad, expired or revoked token or key."""

    def __init__(self, detail: str, reason: str = "invalid_token") -> None:
        super().__init__(detail)
        self.reason = reason
        """A machine code for the failure (``invalid_credentials``, ``expired``, ``revoked``...)."""


class Unavailable(DomainError):
    """A store or queue the request needs cannot be reached; nothing was changed: it may be sent again."""

    def __init__(self, detail: str, retry_after_seconds: int = 5) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class QueueUnavailable(Unavailable):
    """The scoring queue cannot be reached: nothing was queued."""
