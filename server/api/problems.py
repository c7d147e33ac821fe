"""RFC 9457 problem details: the one error body of every 4xx and 5xx the API returns."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    InvalidRules,
    InvitationRequired,
    NotFound,
    QueueUnavailable,
    RegistrationClosed,
    Unauthenticated,
    Unavailable,
)
from server.services.store_outage import describe, store_unavailable

log = logging.getLogger("gamif.api")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://gamif.dev/problems/"


class FieldError(BaseModel):
    """One invalid input: where (a JSON-pointer-like dotted path), what was wrong, and the code."""

    field: str
    message: str
    code: str


class ProblemBody(BaseModel):
    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="per-field problems (validation)")


class Problem(Exception):
    """Raise to answer with a problem body. `kind` becomes the type URI and a stable machine code."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers

    def body(self, instance: str | None = None) -> ProblemBody:
        return ProblemBody(
            type=TYPE_BASE + self.kind,
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    content = problem.body(instance).model_dump_json(exclude_none=True)
    return Response(content, problem.status, headers=problem.headers, media_type=PROBLEM_JSON)


# Common problems the HTTP layer raises itself (auth, say), through the same table as the services'.
def not_found(what: str) -> Problem:
    return problem_of(NotFound.named(what))


def unauthorized(detail: str, reason: str = "invalid_token") -> Problem:
    return problem_of(Unauthenticated(detail, reason))


def forbidden(detail: str) -> Problem:
    return problem_of(Forbidden(detail))


def conflict(detail: str) -> Problem:
    return problem_of(Conflict(detail))


PROBLEMS: dict[type[DomainError], tuple[int, str, str]] = {
    NotFound: (404, "not-found", "Not found"),
    Conflict: (409, "conflict", "Conflict"),
    Invalid: (422, "validation", "Invalid request"),
    InvalidRules: (422, "invalid-rules", "Invalid rule set"),
    Forbidden: (403, "forbidden", "Not allowed"),
    RegistrationClosed: (403, "registration-closed", "Registration closed"),
    InvitationRequired: (403, "invitation-required", "Invitation required"),
    Unauthenticated: (401, "unauthorized", "Authentication required"),
    Unavailable: (503, "unavailable", "Service unavailable"),
    QueueUnavailable: (503, "unavailable", "Queue unavailable"),
}
"""The one table from the services' errors (`server.services.errors`) to problems: status, kind (the type
URI's last part) and title. A subclass without a row answers as its nearest listed parent."""


def problem_of(error: DomainError) -> Problem:
    """The problem answering a service's refusal: its table row, its detail and field errors, and the
    headers its kind calls for (who to authenticate as, when to try again)."""
    status, kind, title = next(PROBLEMS[c] for c in type(error).__mro__ if c in PROBLEMS)
    headers = None
    if isinstance(error, Unauthenticated):
        headers = {"WWW-Authenticate": f'Bearer error="{error.reason}"'}
    elif isinstance(error, Unavailable):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    errors = [FieldError(field=e.field, message=e.message, code=e.code) for e in error.errors] or None
    return Problem(status, kind, title, error.detail, errors=errors, headers=headers)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(problem_of(exc), request.url.path)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(exc, request.url.path)


_HTTP_TITLES = {404: ("not-found", "Not found"), 405: ("method-not-allowed", "Method not allowed")}


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
    headers = dict(exc.headers or {})
    problem = Problem(exc.status_code, kind, title, str(exc.detail), headers=headers)
    return problem_response(problem, request.url.path)


STORE_RETRY_AFTER_SECONDS = 5


def store_down(error: BaseException) -> bool:
    """Whether ``error`` says a store (PostgreSQL, Redis) cannot be reached right now: a refused, cut or
    timed-out connection, or a database starting or stopping. Not a bug: the request may simply be sent
    again (`server.services.store_outage`)."""
    return store_unavailable(error)


def unavailable() -> Problem:
    detail = "a data store cannot be reached right now; nothing was changed: send the request again"
    return problem_of(Unavailable(detail, STORE_RETRY_AFTER_SECONDS))


async def handle_store_error(request: Request, exc: Exception) -> Response:
    """The errors a store that is down raises, answered 503 here rather than in Starlette's last-resort
    handler, which logs a full traceback for every one (an outage would flood the log): one line each,
    a warning. Anything else of those types is a bug, left to `handle_unexpected`; a WebSocket session
    has its own close codes (`server.hub`)."""
    if request.scope["type"] != "http" or not store_down(exc):
        raise exc
    return _unavailable(request, exc)


def _unavailable(request: Request, exc: Exception) -> Response:
    # The request's transaction was rolled back with its connection: nothing was written.
    log.warning("503 on %s %s: a store is unavailable (%s)", request.method, request.url.path, describe(exc))
    return problem_response(unavailable(), request.url.path)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    if store_down(exc):  # raised where the handlers above do not reach (a middleware, say)
        return _unavailable(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = Problem(500, "internal", "Internal error", "something went wrong on our side; it was logged")
    return problem_response(problem, request.url.path)


STORE_ERRORS = (DBAPIError, PoolTimeoutError, RedisError, OSError)
"""The exception types a store that is down raises (`ConnectionError` and `TimeoutError` are `OSError`s)."""


def exception_handlers() -> dict[Any, Any]:
    store = dict.fromkeys(STORE_ERRORS, handle_store_error)
    return {
        Problem: handle_problem,
        DomainError: handle_domain_error,
        HTTPException: handle_http_exception,
        **store,
        Exception: handle_unexpected,
    }
