"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .endpoints import Api, Endpoint, openapi_path, path_params
from .problems import PROBLEM_JSON, ProblemBody

_ERROR_TEXT = {
    400: "Malformed request",
    401: "Missing, expired, forged or revoked credentials",
    403: "Authenticated but not allowed",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Invalid input (each field named in `errors`)",
    429: "Too many requests",
    503: "A store is unavailable",
}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "user": [{"bearer": []}],
    "admin": [{"bearer": []}],
    "principal": [{"bearer": []}, {"apiKey": []}],
    "public": [],
}


def document(apis: list[Api], title: str, version: str, description: str = "") -> dict[str, Any]:
    endpoints = [(api.prefix, endpoint) for api in apis for endpoint in api.endpoints]
    models: list[tuple[type[BaseModel], Any]] = [(ProblemBody, "serialization")]
    for _, endpoint in endpoints:
        if endpoint.body is not None:
            models.append((endpoint.body, "validation"))
        if endpoint.response is not None:
            models.append((endpoint.response, "serialization"))
    refs, schema = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for prefix, endpoint in endpoints:
        operation = _operation(endpoint, refs)
        paths.setdefault(openapi_path(prefix + endpoint.path), {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _operation(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": _SECURITY[endpoint.auth],
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in path_params(endpoint.path)
    ]
    if endpoint.query is not None:
        query_schema = endpoint.query.model_json_schema()
        required = set(query_schema.get("required", []))
        for name, prop in query_schema.get("properties", {}).items():
            parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    if endpoint.response is not None:
        responses[str(endpoint.status)] = {
            "description": endpoint.summary,
            "content": {"application/json": {"schema": refs[(endpoint.response, "serialization")]}},
        }
    else:
        responses[str(endpoint.status if endpoint.status != 200 else 204)] = {"description": "Done"}
    problem = {"content": {PROBLEM_JSON: {"schema": refs[(ProblemBody, "serialization")]}}}
    statuses = set(endpoint.errors)
    if endpoint.body is not None or endpoint.query is not None:
        statuses |= {422}
    if endpoint.body is not None:
        statuses |= {400, 413, 415}
    if endpoint.auth != "public":
        statuses |= {401}
    if endpoint.auth in ("admin", "user"):
        statuses |= {403}  # admin: a player; user: an API key on a people-only endpoint
    for status in sorted(statuses):
        responses[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"), **problem}
    operation["responses"] = responses
    return operation
