"""Loaders for event and user files (JSON Lines / JSON): the engine's only file access."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from .events import MetricEvent
from .periods import UnknownTimezone, zone

SAMPLE_EVENTS = "sample_events.jsonl"
SAMPLE_USERS = "sample_users.json"


class EventRecord(BaseModel):
    """One event as written in a file or sent over the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=128)]
    user: Annotated[str, Field(min_length=1, max_length=128)]
    metric: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[float, Field(allow_inf_nan=False)]
    occurred_at: AwareDatetime
    source: Literal["integration", "self"] = "integration"

    def to_event(self) -> MetricEvent:
        return MetricEvent(self.id, self.user, self.metric, self.value, self.occurred_at, self.source)


class EventFileError(ValueError):
    """A line of an events or users file that is not valid; the message names the file and line."""


def read_events(path: str | Path) -> list[MetricEvent]:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            return list(_parse_lines(handle, str(path)))
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read: {exc.strerror or exc}") from None


def parse_events(text: str, source: str = "events") -> list[MetricEvent]:
    return list(_parse_lines(text.splitlines(), source))


def _parse_lines(lines: Iterator[str] | list[str], source: str) -> Iterator[MetricEvent]:
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            yield EventRecord.model_validate_json(line).to_event()
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'line'}: {err['msg']}" for err in exc.errors()
            )
            raise EventFileError(f"{source} line {number}: {problems}") from None


def read_users(path: str | Path) -> dict[str, str]:
    """A JSON object mapping user id -> IANA timezone."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise EventFileError(f"{path} line {exc.lineno}: malformed JSON: {exc.msg}") from None
    return _check_users(data, str(path))


def _check_users(data: object, source: str) -> dict[str, str]:
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise EventFileError(
            f'{source}: expected an object of user id -> timezone, e.g. {{"ana": "Europe/Paris"}}'
        )
    for user, tz in data.items():
        try:
            zone(tz)
        except UnknownTimezone as exc:
            raise EventFileError(f"{source}: user {user!r}: {exc}") from None
    return dict(data)


def sample_events() -> list[MetricEvent]:
    text = resources.files("game").joinpath("data").joinpath(SAMPLE_EVENTS).read_text(encoding="utf-8")
    return parse_events(text, SAMPLE_EVENTS)


def sample_users() -> dict[str, str]:
    text = resources.files("game").joinpath("data").joinpath(SAMPLE_USERS).read_text(encoding="utf-8")
    return _check_users(json.loads(text), SAMPLE_USERS)
