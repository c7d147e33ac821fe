"""/metrics: ingest a batch of metric events."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import MetricsIn, MetricsOut


@api.route(
    "POST",
    "/metrics",
    summary="Report metric events (a batch, all or nothing)",
    tag="metrics",
    auth="principal",
    body=MetricsIn,
    response=MetricsOut,
    errors=(403,),
)
async def post_metrics(call: Call) -> MetricsOut:
    """Integrations (API key with `metrics:write`) report anyone's work; players report their own
    self-reportable metrics. A batch with any invalid event is refused whole, naming every field;
    re-sent event ids come back as `duplicate` and count once."""
    body: MetricsIn = call.body
    result: MetricsOut = await call.service("ingest").ingest(call.who, body.events)
    return result
