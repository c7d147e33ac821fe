"""The OpenAPI 3.1 document, generated from the endpoint declarations and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .endpoints import Api, Endpoint, openapi_path, path_params
from .problems import PROBLEM_JSON, ProblemBody
from .schemas import TIMEZONES

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
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "str": {"type": "string", "minLength": 1},
    # Starlette's int converter takes digits only; ids are 64-bit (a larger number names nothing: 404).
    "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
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
    components: dict[str, Any] = schema.get("$defs", {})
    for _, endpoint in endpoints:
        if endpoint.body is not None:
            _constrain_request(refs[(endpoint.body, "validation")], components, set())
    components[_JSON_VALUE] = _json_value()
    # The ~600 timezone names once, not in every schema that takes a timezone.
    components[_TIMEZONE] = {"type": "string", "enum": TIMEZONES, "description": "An IANA timezone name."}
    _share_timezones(components, top=True)
    paths: dict[str, dict[str, Any]] = {}
    for prefix, endpoint in endpoints:
        operation = _operation(endpoint, refs)
        paths.setdefault(openapi_path(prefix + endpoint.path), {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": components,
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
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": endpoint.path_schemas.get(name, _PATH_SCHEMAS[converter]),
        }
        for name, converter in path_params(endpoint.path)
    ]
    if endpoint.query is not None:
        query_schema = endpoint.query.model_json_schema(ref_template="#/components/schemas/{model}")
        _constrain_request(query_schema, query_schema.get("$defs", {}), set())
        _share_timezones(query_schema)
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


# -- what the request schemas cannot say by themselves ----------------------------------------------

_TIMEZONE = "Timezone"


def _share_timezones(node: Any, *, top: bool = False) -> None:
    """Replaces, in place, each inline list of the timezone names with a reference to the one copy."""
    children: list[tuple[Any, Any]] = []
    if isinstance(node, list):
        children = list(enumerate(node))
    elif isinstance(node, dict):
        children = [(key, child) for key, child in node.items() if not (top and key == _TIMEZONE)]
    for key, child in children:
        if isinstance(child, dict) and child.get("enum") == TIMEZONES:
            kept = {k: v for k, v in child.items() if k not in ("enum", "type")}
            node[key] = {"$ref": f"#/components/schemas/{_TIMEZONE}", **kept}
        else:
            _share_timezones(child)


_NO_NUL = "^[^\\u0000]*$"
"""Every string a request carries is refused with a NUL in it (`server.api.schemas.Input`)."""
_JSON_VALUE = "JsonValue"
_SCHEMA_KEYS = ("properties", "patternProperties", "$defs")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "propertyNames", "not")


def _json_value() -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{_JSON_VALUE}"}
    return {
        "description": "Any JSON value whose strings and keys hold no NUL character.",
        "anyOf": [
            {"type": "null"},
            {"type": "boolean"},
            {"type": "number"},
            {"type": "string", "pattern": _NO_NUL},
            {"type": "array", "items": ref},
            {"type": "object", "additionalProperties": ref, "propertyNames": {"pattern": _NO_NUL}},
        ],
    }


def _constrain_request(node: Any, components: dict[str, Any], seen: set[str]) -> None:
    """States, in place, what `Input` enforces on every request string (no NUL) where pydantic's schema
    is silent: a string without a pattern of its own gets one, and a value of any type (``metadata``'s)
    becomes a `JsonValue`. Follows references into ``components``, each once."""
    if isinstance(node, list):
        for item in node:
            _constrain_request(item, components, seen)
        return
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen and name in components:
            seen.add(name)
            _constrain_request(components[name], components, seen)
        return
    if node.get("type") == "string" and not {"pattern", "enum", "const", "format"} & node.keys():
        node["pattern"] = _NO_NUL
    if node.get("type") == "object" and node.get("additionalProperties") is True:
        node["additionalProperties"] = {"$ref": f"#/components/schemas/{_JSON_VALUE}"}
        node.setdefault("propertyNames", {"pattern": _NO_NUL})
    for key in _SCHEMA_KEYS:
        for name, child in (node.get(key) or {}).items():
            if child == {} or (isinstance(child, dict) and set(child) <= {"title", "description", "default"}):
                # A value of any type: any JSON value without NUL.
                node[key][name] = {**child, "$ref": f"#/components/schemas/{_JSON_VALUE}"}
            else:
                _constrain_request(child, components, seen)
    for key in (*_SCHEMA_LISTS, *_SCHEMA_VALUES):
        if key in node:
            _constrain_request(node[key], components, seen)
