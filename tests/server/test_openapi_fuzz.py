"""The HTTP API against its own OpenAPI document (schemathesis): requests generated from every
operation's schema, valid ones and invalid ones, as an admin and as nobody, on SQLite and on
PostgreSQL. No answer may be a server error (a 5xx other than the documented 503), and every answer
must be one the document declares, with the declared body; a request the schema allows must not be
refused as invalid (422), so the document states the constraints the server enforces.

Bounded: a fixed number of examples per operation (no shrinking past a failure's first example),
against the app in-process (the ASGI transport), its password hashing at its cheapest cost.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS
from schemathesis.openapi.checks import RejectedPositiveData
from starlette.applications import Starlette

from server.api.registry import PREFIX

EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 4}
"""Examples per operation, mode and caller: about 40 operations × 2 callers, a few seconds per run."""
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "positive_data_acceptance",
)
ACCEPTED = ("200", "201", "202", "204", "401", "403", "404", "409")
"""What a request valid by the schema may get: done, or refused for who sent it or what exists (not 422)."""


_CHALLENGE = re.compile(r"ends_at|(metrics|teams|rewards)(\.\d+)?|completion_reward|goal")
CROSS_FIELD: dict[str, re.Pattern[str]] = {
    # What a JSON Schema cannot say: a field valid alone but not with the others, or whose content is a
    # language of its own. A request refused only for these is not one the document claims valid.
    "PUT /api/v1/rules": re.compile(r"yaml(\..*)?"),  # a rule set, in YAML: the engine validates it
    # ...and names that must exist when the request comes (the current rules' metrics, the teams).
    "POST /api/v1/challenges": _CHALLENGE,
    "PATCH /api/v1/challenges/{id}": _CHALLENGE,
    "GET /api/v1/leaderboards/{board}/{period}": re.compile(r"around|radius|offset|limit"),
}
"""Per operation, the fields whose 422 may come from rules between fields (ends after it starts, each
metric once, `around` or paging, a reward of something)."""


def only_unstatable(operation: str, response: httpx.Response) -> bool:
    """Whether a refused valid request was refused only for what no schema can state: a cross-field
    rule above, or a cursor the API did not give out (opaque: the document states its alphabet and
    length, but only `next_cursor` names a position; tests/server/test_api_hostile_input.py covers it)."""
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or []
    cross = CROSS_FIELD.get(operation)
    return bool(errors) and all(
        error["code"] == "invalid_cursor"
        or error["code"] == "invalid_rule"
        or (cross is not None and cross.fullmatch(error["field"]) is not None)
        for error in errors
    )


def _checks() -> list[Any]:
    return [CHECKS.get_by_names([name])[0] for name in CHECK_NAMES]


def run_operation(
    operation: Any,
    mode: GenerationMode,
    send: Callable[[dict[str, Any]], httpx.Response],
    headers: dict[str, str],
) -> list[str]:
    """Every failure of ``operation``'s generated cases (one line each, the request as curl)."""
    failures: list[str] = []
    checks = _checks()

    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def each(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://test", headers=headers)
        response = send(kwargs)
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, BaseExceptionGroup) as failure:  # schemathesis' FailureGroup is the latter
            found = failure.exceptions if isinstance(failure, BaseExceptionGroup) else [failure]
            if only_unstatable(operation.label, response) and all(
                isinstance(f, RejectedPositiveData) for f in found
            ):
                return
            titles = ", ".join(sorted(str(getattr(f, "title", None) or f) for f in found))
            failures.append(
                f"{operation.label} [{mode}, {'admin' if headers else 'anonymous'}]: {titles}: "
                f"{response.status_code} {response.text[:300]}\n    {case.as_curl_command()}"
            )

    try:
        each()
    except Unsatisfiable:
        # Negative mode on an operation that takes nothing (no parameter, no body): nothing to break.
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


async def test_the_api_keeps_to_its_openapi_document(
    app: Starlette, client: httpx.AsyncClient, admin
) -> None:
    document = (await client.get(f"{PREFIX}/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    loop = asyncio.get_running_loop()

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        request = {
            "method": kwargs["method"],
            "url": kwargs["url"],
            "headers": kwargs.get("headers"),
            "params": kwargs.get("params"),
        }
        if "json" in kwargs:
            request["json"] = kwargs["json"]
        elif kwargs.get("data") is not None:
            request["content"] = kwargs["data"]
        future = asyncio.run_coroutine_threadsafe(client.request(**request), loop)
        return future.result(timeout=60)

    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    for headers in ({"Authorization": f"Bearer {admin.access}"}, {}):
        for operation in operations:
            for mode in EXAMPLES:
                failures += await asyncio.to_thread(run_operation, operation, mode, send, headers)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
