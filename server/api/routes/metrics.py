"""/metrics: ingest a batch of metric events."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import MetricsIn, MetricsOut


@api.route(
    "POST",
    "/metrics",
    summary="Report metric events (a batch, all or nothing), queued for scoring",
    tag="metrics",
    auth="principal",
    body=MetricsIn,
    response=MetricsOut,
    status=202,
    errors=(403, 503),
)
async def post_metrics(call: Call) -> MetricsOut:
    """Integrations (API key with `metrics:write`) report anyone's work; players report their own
    self-reportable metrics. A batch with any invalid event is refused whole, naming every field. A
    valid one is queued and answered at once (202): its events are scored in the background, exactly
    once per id; ids already scored come back as `duplicate`. 503 (with Retry-After) when the queue
    cannot be reached: nothing was queued, send it again."""
    body: MetricsIn = call.body
    result: MetricsOut = await call.service("ingest").ingest(call.who, body.events)
    return result
