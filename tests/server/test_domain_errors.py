"""Services speak the domain, not HTTP: they raise `server.services.errors`, which the API maps to problems
and the application's hub handlers to protocol error codes, each in one table. The layering is checked on
the source (an AST walk), the tables on what they answer."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from protocol import ErrorCode
from server.api.problems import PROBLEMS, problem_of
from server.hub_handlers import ERROR_CODES, error_code
from server.services import errors
from server.services.errors import (
    DomainError,
    FieldIssue,
    Invalid,
    NotFound,
    QueueUnavailable,
    Unauthenticated,
    Unavailable,
)

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "server" / "services"
SOCKET_MODULES = (ROOT / "server" / "hub" / "session.py", ROOT / "server" / "hub_handlers.py")
"""The hub's session, and the handlers that answer it for the application: protocol codes, never HTTP's."""

HTTP_MODULES = ("server.api", "starlette")
"""What a service may not import: the HTTP layer (problems, schemas, endpoints) and the web framework."""


def imported_modules(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """Every module a file imports (line, absolute dotted name), relative imports resolved against its
    package (by default, where the file sits under the repository)."""
    package = package or ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            # `from server import api` imports server.api as surely as `import server.api` does.
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def speaks_http(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in HTTP_MODULES)


def test_the_import_walk_sees_absolute_relative_and_from_imports(tmp_path: Path) -> None:
    # The walk itself, on a file that breaks the rule each way (so the real check cannot pass by blindness).
    bad = tmp_path / "probe.py"
    bad.write_text(
        "import starlette.requests\nfrom server import api\nfrom ..api.problems import Problem\n"
        "from .errors import Invalid\nimport server.auth\n",
        "utf-8",
    )
    modules = imported_modules(bad, package="server.services")
    assert sorted({line for line, module in modules if speaks_http(module)}) == [1, 2, 3]
    assert (4, "server.services.errors.Invalid") in modules


def test_no_service_imports_the_http_layer() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted(SERVICES.rglob("*.py"))
        for line, module in imported_modules(path)
        if speaks_http(module)
    ]
    assert offending == []


@pytest.mark.parametrize("path", SOCKET_MODULES, ids=lambda path: path.name)
def test_the_socket_side_does_not_look_at_http_statuses(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    imports = [module for _, module in imported_modules(path)]
    assert [m for m in imports if m.startswith(("server.api.problems", "starlette.exc"))] == []
    statuses = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        for operand in [node.left, *node.comparators]
        if (isinstance(operand, ast.Attribute) and operand.attr in {"status", "status_code"})
        or (isinstance(operand, ast.Constant) and type(operand.value) is int and 100 <= operand.value < 600)
    ]
    assert statuses == []


def domain_errors() -> list[type[DomainError]]:
    return [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, DomainError) and kind is not DomainError
    ]


@pytest.mark.parametrize("kind", domain_errors(), ids=lambda kind: kind.__name__)
def test_every_domain_error_has_its_own_problem_and_a_protocol_code(kind: type[DomainError]) -> None:
    assert kind in PROBLEMS  # a row of its own: a new kind must be given a status on purpose
    error = kind("what went wrong")
    problem = problem_of(error)
    assert (problem.status, problem.detail) == (PROBLEMS[kind][0], "what went wrong")
    assert error_code(error) in ErrorCode


def test_a_problem_keeps_the_detail_and_field_errors_and_adds_the_headers_its_kind_calls_for() -> None:
    invalid = problem_of(Invalid("invalid body: a", [FieldIssue("a", "too long", "too_long")]))
    assert invalid.body("/x").model_dump(exclude_none=True) == {
        "type": "https://gamif.dev/problems/validation",
        "title": "Invalid request",
        "status": 422,
        "detail": "invalid body: a",
        "instance": "/x",
        "errors": [{"field": "a", "message": "too long", "code": "too_long"}],
    }
    assert invalid.headers is None
    assert problem_of(NotFound.named("team 'x'")).detail == "team 'x' does not exist"
    assert problem_of(Unauthenticated("expired", "expired")).headers == {
        "WWW-Authenticate": 'Bearer error="expired"'
    }
    queue = problem_of(QueueUnavailable("the queue is down", retry_after_seconds=7))
    assert (queue.status, queue.title, queue.headers) == (503, "Queue unavailable", {"Retry-After": "7"})


def test_the_hub_answers_unavailable_to_a_store_or_queue_down_and_invalid_message_to_the_rest() -> None:
    assert error_code(QueueUnavailable("down")) is ErrorCode.UNAVAILABLE
    assert error_code(Unavailable("down")) is ErrorCode.UNAVAILABLE
    assert error_code(Invalid("over the batch limit")) is ErrorCode.INVALID_MESSAGE
    assert error_code(NotFound("gone")) is ErrorCode.INVALID_MESSAGE
    assert set(ERROR_CODES) <= {DomainError, *domain_errors()}
