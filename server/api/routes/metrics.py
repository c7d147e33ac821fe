"""/metrics: ingest a batch of metric events."""

from __future__ import annotations

from server.api.endpoints import Call
from server.api.registry import api
from server.api.schemas import MetricsIn, MetricsOut


@api.route(
    "POST",
    "/metrics",
    summary="Report metric events (a batch), queued for scoring, with a status per event",
    tag="metrics",
    auth="principal",
    body=MetricsIn,
    response=MetricsOut,
    status=202,
    errors=(403, 503),
)
async def post_metrics(call: Call[MetricsIn, None]) -> MetricsOut:
    """Integrations (API key with `metrics:write`) report anyone's work; players report their own
    self-reportable metrics. The batch is answered at once (202) with a status per event, in order:
    `accepted` (queued, scored in the background exactly once per id), `duplicate` (`duplicate_in_batch`:
    its id repeats an earlier event of the request; `already_scored`) or `rejected` with a `code`, a
    `reason` and the `field` it is about (e.g. `unknown_user`, `not_yours`, `scope`, `in_the_future`,
    `too_old`, `unknown_metric`, `source_not_allowed`, `invalid_value`, `above_max_value`). Rejected
    events are never queued, and do not hold up the others. The request as a whole is refused, nothing
    queued, when its body is invalid or has more than `GAMIF_INGEST_MAX_BATCH` events (422), when an API
    key lacks `metrics:write` (403), and when the queue cannot be reached (503, with Retry-After: send it
    again)."""
    outcome = await call.services.ingest.ingest(call.who, call.body.events)
    return MetricsOut.model_validate(outcome)
