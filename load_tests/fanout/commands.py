"""What the driver and the load-client processes say to each other over their pipes (pickled)."""

from __future__ import annotations

from dataclasses import dataclass

from .procfs import percent_of_core


@dataclass(frozen=True, slots=True)
class ConnectSpec:
    """How to open one subscriber connection to a target."""

    host: str
    port: int
    path: str
    subprotocol: str | None
    hub: bool = False
    """Speaks the gamif protocol: sends `hello` (auth, subscribe), is ready once ``subscribed`` arrives,
    counts the deltas of ``delta`` and ``batch`` frames and checks their offsets. Otherwise every binary
    frame is one delivery and the connection is ready once upgraded."""
    hello: tuple[bytes, ...] = ()
    topic: str = ""
    strict: bool = False
    """Hub only: decode every frame and check each offset, instead of counting deltas from the frames'
    first bytes and checking the first and last offsets of each round."""


# ------------------------------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class Connect:
    """Open `count` more connections (the process keeps those it has)."""

    spec: ConnectSpec
    count: int
    concurrency: int = 64
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Arm:
    """A round starts: every connection should now receive `messages` deliveries."""

    messages: int


@dataclass(frozen=True, slots=True)
class Collect:
    """Report the round once every connection has all its deliveries, or nothing came for `stall`
    seconds."""

    stall: float


@dataclass(frozen=True, slots=True)
class AwaitDeliveries:
    """Answer once every connection could have `per_connection` deliveries of the round (lock-step
    publishing), or nothing came for `stall` seconds."""

    per_connection: int
    stall: float


@dataclass(frozen=True, slots=True)
class Census:
    """How many connections are still open (the memory phase checks its idle ones survived)."""


@dataclass(frozen=True, slots=True)
class CloseAll:
    """Drop every connection (with a reset: no TIME_WAIT left behind by thousands of sockets)."""


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = Connect | Arm | AwaitDeliveries | Collect | Census | CloseAll | Quit


# ------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class Connected:
    opened: int
    failed: int
    total: int
    """Open connections of the process, after this command."""
    errors: tuple[str, ...]
    """A few of the failures, for the report."""
    retries: int = 0
    """Hub: subscribes answered ``unavailable`` and sent again, before the connections were ready."""


@dataclass(frozen=True, slots=True)
class Armed:
    connections: int


@dataclass(frozen=True, slots=True)
class Reached:
    reached: bool
    """False: the process stalled short of the deliveries awaited."""


@dataclass(frozen=True, slots=True)
class RoundReport:
    """One process's view of a round. Times are CLOCK_MONOTONIC seconds, comparable across processes."""

    connections: int
    expected_per_connection: int
    complete_connections: int
    deliveries: int
    frames: int
    payload_bytes: int
    first_at: float | None
    last_at: float | None
    cpu_seconds: float
    """CPU time of the process (user + system) from its first frame to its last."""
    problems: tuple[str, ...]
    """A few of the connections that missed messages, got them out of order, or closed."""

    @property
    def cpu_percent(self) -> float | None:
        if self.first_at is None or self.last_at is None:
            return None
        return percent_of_core(self.cpu_seconds, self.last_at - self.first_at)


@dataclass(frozen=True, slots=True)
class Counted:
    open: int
    closed: int
    reasons: tuple[str, ...]
    """Why a few of the closed ones closed."""


@dataclass(frozen=True, slots=True)
class Closed:
    count: int


@dataclass(frozen=True, slots=True)
class Failed:
    """The command raised: the process reports the error instead of dying silently."""

    error: str


Reply = Connected | Armed | Reached | RoundReport | Counted | Closed | Failed
