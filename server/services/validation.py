"""Checking a plain value against a pydantic model, with each failure as a `FieldIssue` at its field.

The API validates request bodies and queries with it, and a service that validates a merged document
(a challenge edit) with it too, so both report a bad field in exactly the same words.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from server.services.errors import FieldIssue, Invalid

M = TypeVar("M", bound=BaseModel)

_LISTED = 5
"""Fields named in the detail; ``errors`` names every one."""


def validated(model: type[M], data: Any, where: str) -> M:
    """``data`` as a ``model``, or `Invalid` naming each bad field (``where``: "body", "query"...)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [field_issue(error, where) for error in exc.errors(include_url=False)]
        fields = ", ".join(e.field for e in errors[:_LISTED]) + (" …" if len(errors) > _LISTED else "")
        raise Invalid(f"invalid {where}: {fields}", errors) from None


def field_issue(error: ErrorDetails, where: str) -> FieldIssue:
    path = ".".join(str(part) for part in error["loc"]) or where
    message = str(error["msg"]).removeprefix("Value error, ")
    # A model validator's cross-field error arrives at the model's root; one that names its field
    # (``ValueError`` with a ``field``, "<field>: <message>") is reported there instead.
    moved = getattr((error.get("ctx") or {}).get("error"), "field", None)
    if not error["loc"] and isinstance(moved, str) and moved:
        path, message = moved, message.removeprefix(f"{moved}: ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    return FieldIssue(field=path, message=message, code=str(error["type"]))
