"""/healthz (the process answers) and /readyz (its stores answer, and it is not draining)."""

from __future__ import annotations

from sqlalchemy import text

from server.api.endpoints import Call
from server.api.problems import Problem
from server.api.registry import root
from server.api.schemas import HealthOut, ReadyOut


@root.route("GET", "/healthz", summary="Liveness", tag="health", auth="public", response=HealthOut)
async def healthz(call: Call[None, None]) -> HealthOut:
    return HealthOut(status="ok")


@root.route(
    "GET",
    "/readyz",
    summary="Readiness: not draining, and the database (and Redis, when configured) answer",
    tag="health",
    auth="public",
    response=ReadyOut,
    errors=(503,),
)
async def readyz(call: Call[None, None]) -> ReadyOut:
    if call.request.app.state.draining:
        # First, and without asking the stores: a draining node stays out of a load balancer's rotation
        # however healthy its stores are (server/cli/uvicorn_server.py).
        raise Problem(
            503,
            "draining",
            "Draining",
            "this node is draining before it stops (SIGTERM): its sessions go on, new ones go elsewhere",
        )
    services = call.services
    checks: dict[str, str] = {}
    failures: list[str] = []
    try:
        async with services.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"error: {type(exc).__name__}"
        failures.append("database")
    redis = services.redis
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
            failures.append("redis")
    if failures:
        raise Problem(503, "not-ready", "Not ready", f"unavailable: {', '.join(failures)} ({checks})")
    return ReadyOut(status="ready", checks=checks)
