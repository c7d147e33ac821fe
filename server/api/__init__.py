"""The HTTP API (``/api/v1``): routes, request and response schemas, the OpenAPI document, and the one
table that maps the services' domain errors to RFC 9457 problems (`server.api.problems`).

It may import the services, auth and persistence; nothing below it imports it (the services speak
domain errors, and the hub's handlers map them to protocol codes, `server.hub_handlers`)."""
