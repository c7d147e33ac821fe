"""Declaring HTTP endpoints once: the route, its auth, its pydantic models and its documented errors.

Each endpoint is a thin async function taking a `Call` (who is calling, the validated body, query and
path, and the app's services), typed as declared: `body=MetricsIn` makes the handler take a
`Call[MetricsIn, None]`, which mypy checks. The same declaration drives request parsing, validation
errors, auth, serialisation and the OpenAPI document, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, Required, TypedDict, TypeVar, Unpack, overload

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.auth.principal import Principal as Principal  # noqa: PLC0414 (re-exported: it lived here)
from server.services.validation import validated

from .problems import Problem
from .services import Services, running

M = TypeVar("M", bound=BaseModel)

AuthKind = Literal["public", "user", "admin", "principal"]
"""public: anyone; user: a logged-in person; admin: a person with the admin role;
principal: a person or a service account (API key)."""


class Authenticator(Protocol):
    async def __call__(self, request: Request, kind: AuthKind) -> Principal | None: ...


B = TypeVar("B", bound=BaseModel | None)
Q = TypeVar("Q", bound=BaseModel | None)
DeclaredBody = TypeVar("DeclaredBody", bound=BaseModel)
DeclaredQuery = TypeVar("DeclaredQuery", bound=BaseModel)
R = TypeVar("R", bound=BaseModel | Response | None)
"""What a handler returns: its response model (serialised with the declared status), a response of
its own, or nothing (204, or the declared status)."""


@dataclass(frozen=True, slots=True)
class Call(Generic[B, Q]):
    """One request to an endpoint: who makes it, its body and query validated as the endpoint declares
    them (``None`` when it declares none: `Call[MetricsIn, None]`), and its path parameters."""

    request: Request
    principal: Principal | None
    body: B
    query: Q
    path: dict[str, str] = field(default_factory=dict)

    @property
    def who(self) -> Principal:
        assert self.principal is not None  # endpoints that are not public always have one
        return self.principal

    @property
    def services(self) -> Services:
        """The app's services (a 503 problem while it is starting)."""
        return running(self.request.app)


Handler = Callable[[Call[B, Q]], Awaitable[R]]
"""An endpoint's function: a `Call` with the declared body and query in, its response out."""


class EndpointOptions(TypedDict, total=False):
    """What `Api.route` takes besides the method, the path, the body and the query."""

    summary: Required[str]
    tag: Required[str]
    auth: AuthKind
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    path_schemas: Mapping[str, dict[str, Any]] | None


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler[Any, Any, BaseModel | Response | None]
    summary: str
    tag: str
    auth: AuthKind
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    description: str = ""
    path_schemas: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """JSON schemas of path parameters that take less than any string (e.g. an enum)."""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Api:
    """A registry of endpoints under one prefix."""

    def __init__(self, prefix: str, max_body_bytes: Callable[[Request], int]) -> None:
        self.prefix = prefix
        self.endpoints: list[Endpoint] = []
        self._max_body = max_body_bytes

    # The body and query models declared are those the handler's `Call` must carry: mypy checks the
    # declaration against the handler's annotation (`body=MetricsIn` wants a `Call[MetricsIn, None]`).
    @overload
    def route(
        self,
        method: str,
        path: str,
        *,
        body: None = None,
        query: None = None,
        **options: Unpack[EndpointOptions],
    ) -> Callable[[Handler[None, None, R]], Handler[None, None, R]]: ...

    @overload
    def route(
        self,
        method: str,
        path: str,
        *,
        body: type[DeclaredBody],
        query: None = None,
        **options: Unpack[EndpointOptions],
    ) -> Callable[[Handler[DeclaredBody, None, R]], Handler[DeclaredBody, None, R]]: ...

    @overload
    def route(
        self,
        method: str,
        path: str,
        *,
        body: None = None,
        query: type[DeclaredQuery],
        **options: Unpack[EndpointOptions],
    ) -> Callable[[Handler[None, DeclaredQuery, R]], Handler[None, DeclaredQuery, R]]: ...

    @overload
    def route(
        self,
        method: str,
        path: str,
        *,
        body: type[DeclaredBody],
        query: type[DeclaredQuery],
        **options: Unpack[EndpointOptions],
    ) -> Callable[[Handler[DeclaredBody, DeclaredQuery, R]], Handler[DeclaredBody, DeclaredQuery, R]]: ...

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        auth: AuthKind = "user",
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        path_schemas: Mapping[str, dict[str, Any]] | None = None,
    ) -> Callable[[Handler[Any, Any, Any]], Handler[Any, Any, Any]]:
        def register(handler: Handler[Any, Any, Any]) -> Handler[Any, Any, Any]:
            self.endpoints.append(
                Endpoint(
                    method.upper(),
                    path,
                    handler,
                    summary,
                    tag,
                    auth,
                    body,
                    query,
                    response,
                    status,
                    errors,
                    (handler.__doc__ or "").strip(),
                    dict(path_schemas or {}),
                )
            )
            return handler

        return register

    def routes(self) -> list[Route]:
        by_path: dict[str, list[Endpoint]] = {}
        for endpoint in self.endpoints:
            by_path.setdefault(endpoint.path, []).append(endpoint)
        return [
            Route(self.prefix + path, self._dispatcher(group), methods=[e.method for e in group])
            for path, group in by_path.items()
        ]

    def _dispatcher(self, group: list[Endpoint]) -> Callable[[Request], Awaitable[Response]]:
        by_method = {endpoint.method: endpoint for endpoint in group}
        if "GET" in by_method:
            by_method.setdefault("HEAD", by_method["GET"])

        async def dispatch(request: Request) -> Response:
            endpoint = by_method[request.method]
            return await self._serve(endpoint, request)

        return dispatch

    async def _serve(self, endpoint: Endpoint, request: Request) -> Response:
        authenticate: Authenticator = request.app.state.authenticate
        principal = await authenticate(request, endpoint.auth)
        path = {k: str(v) for k, v in request.path_params.items()}
        if any("\x00" in v for v in path.values()):
            raise Problem(404, "not-found", "Not found", "no such resource")
        query = None
        if endpoint.query is not None:
            query = validate(endpoint.query, dict(request.query_params), "query")
        body = None
        if endpoint.body is not None:
            raw = await read_body(request, self._max_body(request))
            body = validate(endpoint.body, parse_json(raw), "body")
        result = await endpoint.handler(Call(request, principal, body, query, path))
        if isinstance(result, Response):
            return result
        if result is None:
            return Response(status_code=204 if endpoint.status == 200 else endpoint.status)
        assert isinstance(result, BaseModel)
        return Response(result.model_dump_json(), endpoint.status, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        detail = f"send JSON (application/json), not {media!r}"
        raise Problem(415, "unsupported-media-type", "Unsupported media type", detail)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Problem:
    return Problem(413, "payload-too-large", "Payload too large", f"the body is limited to {limit:,} bytes")


MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects a request body may have (the body itself is depth 1). No
request needs more than a few levels; the bound keeps every walk over a body (validation, storage,
serialisation) far from Python's recursion limit."""


def parse_json(raw: bytes) -> Any:
    try:
        value = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except _NotANumber as exc:
        raise Problem(400, "malformed-json", "Malformed JSON", f"the body is not valid JSON: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        detail = f"the body is not valid JSON{where}: {reason}"
        raise Problem(400, "malformed-json", "Malformed JSON", detail) from None
    except RecursionError:  # the parser gave up on the nesting before we could measure it
        raise _too_deep() from None
    # Fewer brackets than the limit cannot nest deeper than it: most bodies skip the walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    return value


class _NotANumber(ValueError):
    pass


def _not_json(name: str) -> Any:
    # Python's parser takes NaN and Infinity, which JSON has not (and PostgreSQL's JSONB refuses).
    raise _NotANumber(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400: beyond a double
        raise _NotANumber(f"the number {text[:32]} is out of range")
    return number


def _too_deep() -> Problem:
    detail = f"the body is not valid JSON: arrays and objects nest deeper than {MAX_JSON_DEPTH} levels"
    return Problem(400, "malformed-json", "Malformed JSON", detail)


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar: 0), without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def validate(model: type[M], data: Any, where: str) -> M:
    """``data`` as a ``model``; a bad field is a 422 naming it (`server.services.validation`)."""
    return validated(model, data, where)


_CONVERTER = re.compile(r"\{(\w+)(:\w+)?\}")


def openapi_path(path: str) -> str:
    """Starlette's `{id:int}` is OpenAPI's `{id}`."""
    return _CONVERTER.sub(r"{\1}", path)


def path_params(path: str) -> list[tuple[str, str]]:
    """Each path parameter's name and Starlette converter (``str`` when none is given)."""
    return [(match.group(1), (match.group(2) or ":str")[1:]) for match in _CONVERTER.finditer(path)]
