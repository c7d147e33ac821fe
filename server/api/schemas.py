"""Request and response bodies of the HTTP API (JSON, snake_case, timezone-aware timestamps)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import available_timezones

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from game.challenges import ChallengeDefinition, Mode, RankReward, Reward, Scoring
from game.challenges.definition import MAX_GRACE_SECONDS, ChallengeId, MetricId, TeamSlug
from game.periods import UnknownTimezone, zone
from protocol.text import unstorable_character
from server.auth.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from server.services.people.read_models import UserOut

# Patterns are read by three regex dialects: pydantic's (Rust's `regex`), and the OpenAPI document's
# readers (ECMA-262) and generators (Python's `re`), which disagree on what `\s` is (U+0085 and U+001C to
# U+001F are spaces to Python and Rust, not to ECMA; U+FEFF to ECMA only). Naming those characters as
# well makes a class mean the same in all three; NUL is left out of every class (it is refused anyway).
SPACE = r"\s\x00\x1c-\x1f\x85\ufeff"
"""Inside a character class: whitespace in any of the three dialects, and NUL."""
NOT_BLANK = rf"^[^\x00]*[^{SPACE}][^\x00]*$"
"""Some character that is not whitespace (and no NUL)."""
Handle = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{1,63}$", description="lower-case login name")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NOT_BLANK, description="not blank")]
Email = Annotated[str, Field(pattern=rf"^[^@{SPACE}]+@[^@{SPACE}]+\.[^@{SPACE}]+$", max_length=254)]
TIMEZONES = sorted(available_timezones())
"""Every IANA name this server knows: what the `timezone` fields are documented to take."""
Timezone = Annotated[
    str, Field(description="IANA timezone, e.g. Europe/Paris", json_schema_extra={"enum": TIMEZONES})
]
T = TypeVar("T")


class Input(BaseModel):
    """Request bodies: unknown fields are errors, so a typo is reported instead of ignored.
    Strings are kept as sent (a password or a YAML document must not be trimmed), but NUL
    characters and lone surrogates (``"\\ud800"``, valid JSON but not Unicode text) are refused:
    PostgreSQL cannot store them, and no legitimate input has one."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        problem = _bad_text(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def _bad_text(value: Any) -> str | None:
    """What is wrong with the strings of a value (map keys included)."""
    found = unstorable_character(value)
    if found is None:
        return None
    if found == "\x00":
        return "NUL characters (\\u0000) are not allowed"
    return "lone surrogates (\\ud800 to \\udfff) are not text"


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _timezone(value: str) -> str:
    try:
        zone(value)
    except UnknownTimezone as exc:
        raise ValueError(str(exc)) from None
    return value


# -- auth ------------------------------------------------------------------------------------------


class RegisterIn(Input):
    email: Email
    # The policy (`server.auth.passwords`) answers a short one itself ("password too weak"); the
    # document states it. It counts characters after Unicode NFKC normalisation.
    password: Annotated[
        str,
        Field(
            min_length=1,
            max_length=256,
            json_schema_extra={"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH},
        ),
    ]
    handle: Handle
    display_name: Name
    timezone: Timezone = "UTC"
    invite: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="the invitation for this email (GAMIF_REGISTRATION=invite)"
    )

    _tz = field_validator("timezone")(_timezone)


class LoginIn(Input):
    login: Annotated[str, Field(min_length=1, max_length=254, description="email or handle")]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class RefreshIn(Input):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class TokenPair(Output):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str
    refresh_expires_in: int


class RegisteredOut(Output):
    user: UserOut
    tokens: TokenPair


# -- me and profiles (the rest are the read services' documents: `server.services.people.read_models`) ----


class LedgerItem(Output):
    id: int
    amount: int
    source: str
    metric: str | None
    day: str | None
    rule_id: str
    rule_version: int
    explanation: str = Field(description="the rule's arithmetic, in words")
    summary: str | None = Field(
        description='the award in a person\'s words ("Merged a pull request"; no date, no XP amount: '
        "format those from `day`, `created_at` and `amount`); null on lines written before summaries"
    )
    event_ids: list[str]
    created_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class PageQuery(Input):
    cursor: str | None = Field(
        default=None,
        description="opaque: a `next_cursor` this API gave out (any other is refused: 422 invalid_cursor)",
        json_schema_extra={"pattern": r"^[A-Za-z0-9_-]{4,400}$"},
    )
    limit: Annotated[int, Field(ge=1, le=200)] = 50


# -- teams -----------------------------------------------------------------------------------------


class TeamIn(Input):
    slug: Slug
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""


class TeamPatch(Input):
    name: Name | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None


class TeamOut(Output):
    slug: str
    name: str
    description: str
    created_at: datetime
    archived_at: datetime | None
    members: int


class MemberOut(Output):
    handle: str
    display_name: str
    joined_at: datetime


class TeamDetailOut(TeamOut):
    member_list: list[MemberOut]


class TeamsQuery(PageQuery):
    include_archived: bool = False


# -- rules -----------------------------------------------------------------------------------------


class RulesIn(Input):
    yaml: Annotated[str, Field(min_length=1, max_length=500_000, description="the rule set, as YAML")]


class RulesOut(Output):
    version: int
    ruleset: str
    fingerprint: str
    created_at: datetime
    created_by: str | None
    yaml: str
    summary: dict[str, Any]


class RuleVersionOut(Output):
    version: int
    ruleset: str
    fingerprint: str
    created_at: datetime
    created_by: str | None


class RuleVersionsOut(Output):
    versions: list[RuleVersionOut]


# -- metrics ---------------------------------------------------------------------------------------


class MetricEventIn(Input):
    id: Annotated[
        str, Field(min_length=1, max_length=128, description="idempotency key: the same id counts once")
    ]
    user: Handle | None = Field(default=None, description="whose work (handle); players may leave it out")
    metric: Annotated[str, Field(min_length=1, max_length=64)]
    value: Annotated[float, Field(allow_inf_nan=False)]
    occurred_at: AwareDatetime = Field(description="when the work happened, with a timezone offset")
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=32)


class MetricsIn(Input):
    events: list[MetricEventIn] = Field(min_length=1)


EventStatus = Literal["accepted", "duplicate", "rejected"]


class EventStatusOut(Output):
    id: str
    status: EventStatus = Field(
        description="accepted: queued for scoring (exactly once per id); duplicate: not queued again (its id "
        "repeats an earlier event of the request, or was already scored); rejected: not queued (see code)"
    )
    code: str | None = Field(
        default=None,
        description="why, for a duplicate (duplicate_in_batch, already_scored) or a rejected event "
        "(scope, no_account, not_yours, missing, unknown_user, in_the_future, too_old, unknown_metric, "
        "source_not_allowed, invalid_value, above_max_value, ...); null when accepted",
    )
    reason: str | None = Field(default=None, description="the same, for people")
    field: str | None = Field(
        default=None, description="the event's field it is about (id, user, metric, value, occurred_at)"
    )


class MetricsOut(Output):
    accepted: int = Field(description="events queued for scoring")
    duplicates: int = Field(description="events not queued again: their id was seen before")
    rejected: int = Field(description="events refused, each with its code; resend them once fixed")
    rule_version: int
    events: list[EventStatusOut] = Field(description="one per event sent, in the same order")


# -- service accounts ------------------------------------------------------------------------------


class ServiceAccountIn(Input):
    name: Name
    scopes: list[Literal["metrics:write", "metrics:read", "admin"]] = Field(min_length=1)
    metrics: list[str] | None = Field(default=None, description="metric types it may write; null: all")


class ServiceAccountOut(Output):
    id: str
    name: str
    scopes: list[str]
    metrics: list[str] | None
    created_at: datetime
    api_key: str | None = Field(default=None, description="shown once, at creation")


# -- admin: players without passwords, and their access tokens -------------------------------------

MAX_ADMIN_BATCH = 1_000


class AdminUserIn(Input):
    handle: Handle
    display_name: Name
    email: Email | None = Field(default=None, description="optional: the account can have none")
    timezone: Timezone = "UTC"

    _tz = field_validator("timezone")(_timezone)


class AdminUsersIn(Input):
    users: list[AdminUserIn] = Field(min_length=1, max_length=MAX_ADMIN_BATCH)
    issue_tokens: bool = Field(default=False, description="also return an access token for each player")


def _absent(value: Any) -> bool:
    return value is None


class AdminUserOut(Output):
    id: str
    handle: str
    display_name: str
    access_token: str | None = Field(
        default=None, exclude_if=_absent, description="only when `issue_tokens` was true"
    )
    expires_at: datetime | None = Field(
        default=None, exclude_if=_absent, description="when the access token expires"
    )


class AdminUsersOut(Output):
    users: list[AdminUserOut] = Field(description="in the order they were sent")


class AdminTokensIn(Input):
    handles: list[Handle] = Field(min_length=1, max_length=MAX_ADMIN_BATCH)
    ttl_seconds: int | None = Field(
        default=None, ge=60, le=86_400, description="lifetime of the tokens; default: the configured one"
    )


class AdminTokenOut(Output):
    handle: str
    user_id: str
    access_token: str
    expires_at: datetime


class AdminTokensOut(Output):
    tokens: list[AdminTokenOut] = Field(description="one per distinct handle, in the order they were sent")


# -- health ----------------------------------------------------------------------------------------


class HealthOut(Output):
    status: Literal["ok"]


class ReadyOut(Output):
    status: Literal["ready"]
    checks: dict[str, str]


class AnnouncementIn(Input):
    title: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK, description="Headline (not blank).")
    text: str = Field(min_length=1, max_length=4096, pattern=NOT_BLANK, description="Body text (not blank).")
    severity: Literal["info", "warning", "critical"] = "info"
    url: str | None = Field(
        default=None, max_length=2048, pattern=rf"^https?://[^{SPACE}]+$", description="A link to read more."
    )
    team: Slug | None = Field(
        default=None, description="Announce to this team's screens only; omitted: to everyone."
    )


class AnnouncementOut(BaseModel):
    audience: str = Field(description="`everyone` or `team:<slug>`.")
    topics: int = Field(description="How many topics the announcement was published on.")


class HubStatsOut(BaseModel):
    node: str = Field(description="This process's hub node id (the prefix of its session ids).")
    sessions: int = Field(description="Authenticated WebSocket sessions on this node now.")
    topics: int = Field(description="Topics watched by at least one session on this node now.")
    deltas_received: int
    deltas_sent: int
    frames_sent: int
    direct_writes: int = Field(description="Frames written straight to idle connections (fast path).")
    slow_consumers: int = Field(description="Sessions closed with 4008 for not reading fast enough.")


class NotificationOut(BaseModel):
    id: int
    kind: str = Field(
        description="The protocol event it was: `level_up`, `badge_earned`, `mission_completed`."
    )
    data: dict[str, Any] = Field(description="The event's data, with its explanation.")
    created_at: datetime
    read_at: datetime | None


class NotificationsQuery(Input):
    unread: bool = Field(default=True, description="only the unread ones")
    limit: int = Field(default=50, ge=1, le=200)


class NotificationsOut(BaseModel):
    items: list[NotificationOut]


# -- challenges ------------------------------------------------------------------------------------

ChallengeState = Literal["scheduled", "live", "closing", "finished"]


ChallengeName = Annotated[str, Field(min_length=1, max_length=120, pattern=NOT_BLANK)]
"""A challenge's name: not blank (the definition strips its strings before checking their length)."""


class ChallengeIn(ChallengeDefinition, Input):
    """A challenge's definition (`game.challenges.ChallengeDefinition`); NUL characters refused, as in
    every body (PostgreSQL cannot store them)."""

    name: ChallengeName
    timezone: Timezone = "UTC"  # the definition's own check still applies; this documents the names


class ChallengePatch(Input):
    """``version`` (the one the edit was made from) and the fields to change; a field left out keeps its
    value, a field sent as null is set to null (``teams: null``: every team). The result is validated as
    a whole, like a new challenge."""

    version: Annotated[int, Field(ge=1, le=2**31 - 1, description="the version this edit was made from")]
    id: ChallengeId | None = Field(default=None, description="may be sent, but not changed")
    name: ChallengeName | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    metrics: Annotated[tuple[MetricId, ...], Field(min_length=1, max_length=10)] | None = None
    scoring: Scoring | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    timezone: Timezone | None = None
    mode: Mode | None = None
    goal: float | None = None
    teams: Annotated[tuple[TeamSlug, ...], Field(min_length=2, max_length=100)] | None = None
    min_members: int | None = None
    rewards: Annotated[tuple[RankReward, ...], Field(max_length=100)] | None = None
    completion_reward: Reward | None = None
    grace_seconds: Annotated[int, Field(ge=0, le=MAX_GRACE_SECONDS)] | None = None

    def changes(self) -> dict[str, Any]:
        """The definition's fields this edit sets (as JSON), ``version`` aside."""
        return self.model_dump(mode="json", include=self.model_fields_set - {"version"})


class ChallengeOut(Output):
    definition: ChallengeDefinition
    state: ChallengeState = Field(description='"closing": live, past its end, within its grace period')
    version: int = Field(description="send it back with an edit (PATCH)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    results: dict[str, Any] | None = Field(description="the frozen outcome, once finished")


class ChallengesQuery(PageQuery):
    state: ChallengeState | None = None
