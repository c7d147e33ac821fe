"""The API's endpoint registry: route modules register on `api`; the app mounts `api.routes()`."""

from __future__ import annotations

from starlette.requests import Request

from .endpoints import Api

PREFIX = "/api/v1"


def _max_body(request: Request) -> int:
    limit: int = request.app.state.settings.max_body_bytes
    return limit


api = Api(PREFIX, _max_body)
root = Api("", _max_body)
"""Operational endpoints that live outside the versioned prefix (/healthz, /readyz)."""
