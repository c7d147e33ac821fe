"""Keeping the mirrors in step with the server (PROTOCOL.md §12), as pure code.

`Sync` holds one `TopicMirror` per subscribed topic, routes each ``subscribed``, ``delta``, ``batch``,
``event`` and ``unsubscribed`` to it, and says what to do about it (a `Reaction`): updates for the
application, and the ``subscribe`` messages that repair a gap (with ``since``) or a divergence (without).
It sends nothing itself, so every decision can be tested without a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from protocol.client._replies import MessageId
from protocol.errors import ErrorCode
from protocol.messages import Batch, Delta, Error, Event, ServerMessage, Subscribe, Subscribed, Unsubscribed
from protocol.mirror import Outcome, TopicMirror

__all__ = ["RETRY_DELAY_MS", "Reaction", "Stats", "Sync", "Update", "UpdateKind"]

UpdateKind: TypeAlias = Literal["snapshot", "recovered", "delta", "event", "unsubscribed"]


@dataclass(frozen=True, slots=True)
class Update:
    """Something the application may want to show. The topic's state is in ``client.mirrors[topic]``,
    already updated when the update is delivered.

    - ``snapshot``: the mirror was (re)set from a snapshot (`message` is the `Subscribed`);
    - ``recovered``: the mirror caught up with the deltas it missed (`message` is the `Subscribed`);
    - ``delta``: one delta applied (`message` is the `Delta`, also for each one of a ``batch``);
    - ``event``: a notification, at most once, never replayed (`message` is the `Event`; its typed data:
      ``protocol.event_data(message)``);
    - ``unsubscribed``: the server ended the subscription, or refused to resume it (`message` is the
      `Unsubscribed`, whose ``reason`` is the error code). Not sent for the application's own
      ``unsubscribe``."""

    topic: str
    kind: UpdateKind
    message: Subscribed | Delta | Event | Unsubscribed


@dataclass(slots=True)
class Stats:
    """Counters over the client's life."""

    connects: int = 0
    """Connections that reached ``welcome``."""
    reconnects: int = 0
    """Reconnection attempts."""
    snapshots: int = 0
    recovered: int = 0
    """``subscribed`` replies that brought the missed deltas instead of a snapshot."""
    deltas: int = 0
    """Deltas applied (also those of batches and recoveries)."""
    duplicates: int = 0
    gaps: int = 0
    """Gaps that led to a ``subscribe`` with ``since``."""
    diverged: int = 0
    """Deltas that did not apply, and led to a ``subscribe`` without ``since``."""
    events: int = 0
    refreshes: int = 0
    refresh_failures: int = 0


@dataclass(slots=True)
class Reaction:
    """What the client does after a message."""

    updates: list[Update] = field(default_factory=list)
    subscribes: list[Subscribe] = field(default_factory=list)
    """Send these now."""
    retries: list[tuple[str, int]] = field(default_factory=list)
    """(topic, delay in ms): resynchronise the topic later (`Sync.resync`): the server was unavailable."""
    failures: list[tuple[str, Error]] = field(default_factory=list)
    """Topics dropped because their ``subscribe`` failed, with the error."""


RETRYABLE = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED, ErrorCode.INTERNAL_ERROR})
"""Errors after which resynchronising a mirror is worth another try; any other drops the topic."""
RETRY_DELAY_MS = 1000
"""When the error does not say (``retry_after_ms``)."""


class Sync:
    """The mirrors of one client, across its connections. ``next_id`` gives request ids."""

    def __init__(self, stats: Stats, next_id: Callable[[], MessageId]) -> None:
        self.stats = stats
        self._next_id = next_id
        self._mirrors: dict[str, TopicMirror] = {}
        self._outstanding: dict[str, dict[MessageId, bool]] = {}
        """Per topic, the ``subscribe`` requests awaiting their reply: id → sent without ``since``."""
        self._topic_of: dict[MessageId, str] = {}

    @property
    def mirrors(self) -> Mapping[str, TopicMirror]:
        return self._mirrors

    # --------------------------------------------------------------------- what the application asks

    def add(self, topic: str) -> tuple[TopicMirror, Subscribe | None]:
        """The application subscribes: the topic's mirror, and the ``subscribe`` to send (None when the
        topic was already subscribed)."""
        mirror = self._mirrors.get(topic)
        if mirror is not None:
            return mirror, None
        mirror = self._mirrors[topic] = TopicMirror(topic)
        return mirror, self._subscribe(topic)

    def drop(self, topic: str) -> bool:
        """The application unsubscribes: forget the topic (replies still on their way are ignored)."""
        self._outstanding.pop(topic, None)
        return self._mirrors.pop(topic, None) is not None

    # ----------------------------------------------------------------------------- the connection

    def resume(self) -> list[Subscribe]:
        """A new connection: subscribe to every topic again, with ``since`` where the mirror has a state
        (§12, "After a reconnect")."""
        self._outstanding.clear()
        self._topic_of.clear()
        return [self._subscribe(topic) for topic in self._mirrors]

    def disconnected(self) -> None:
        """The requests in flight died with the connection."""
        self._outstanding.clear()
        self._topic_of.clear()

    def resync(self, topic: str) -> Subscribe | None:
        """A retry after an error: the ``subscribe`` to send, unless the topic is gone or one is already
        on its way."""
        if topic not in self._mirrors or self._outstanding.get(topic):
            return None
        return self._subscribe(topic)

    def _subscribe(self, topic: str) -> Subscribe:
        since = self._mirrors[topic].since()  # None: nothing yet, or diverged
        message_id = self._next_id()
        self._outstanding.setdefault(topic, {})[message_id] = since is None
        self._topic_of[message_id] = topic
        return Subscribe(id=message_id, topic=topic, since=since)

    def _settle(self, message_id: MessageId) -> str | None:
        topic = self._topic_of.pop(message_id, None)
        if topic is not None:
            self._outstanding.get(topic, {}).pop(message_id, None)
        return topic

    # ------------------------------------------------------------------------ what the server says

    def receive(self, message: ServerMessage) -> Reaction:
        reaction = Reaction()
        if isinstance(message, Subscribed):
            self._subscribed(message, reaction)
        elif isinstance(message, Delta):
            self._delta(message, reaction)
        elif isinstance(message, Batch):
            for delta in message.deltas:  # the same as separate delta messages, in array order
                self._delta(delta, reaction)
        elif isinstance(message, Event):
            if message.topic in self._mirrors:
                self.stats.events += 1
                reaction.updates.append(Update(message.topic, "event", message))
        elif isinstance(message, Error):
            self._failed(message, reaction)
        elif isinstance(message, Unsubscribed) and message.id is None and self.drop(message.topic):
            reaction.updates.append(Update(message.topic, "unsubscribed", message))  # the server ended it
        return reaction

    def _subscribed(self, message: Subscribed, reaction: Reaction) -> None:
        if message.id is not None:
            self._settle(message.id)
        mirror = self._mirrors.get(message.topic)
        if mirror is None:  # unsubscribed meanwhile
            return
        outcome = mirror.apply_subscribed(message)
        if outcome is Outcome.APPLIED:
            if message.recovered:
                self.stats.recovered += 1
                self.stats.deltas += len(message.deltas or ())
            else:
                self.stats.snapshots += 1
            kind: UpdateKind = "recovered" if message.recovered else "snapshot"
            reaction.updates.append(Update(message.topic, kind, message))
        else:
            self._repair(mirror, outcome, reaction)

    def _delta(self, delta: Delta, reaction: Reaction) -> None:
        mirror = self._mirrors.get(delta.topic)
        if mirror is None:
            return
        outcome = mirror.apply_delta(delta)
        if outcome is Outcome.APPLIED:
            self.stats.deltas += 1
            reaction.updates.append(Update(delta.topic, "delta", delta))
        elif outcome is Outcome.DUPLICATE:
            self.stats.duplicates += 1
        else:
            self._repair(mirror, outcome, reaction)

    def _repair(self, mirror: TopicMirror, outcome: Outcome, reaction: Reaction) -> None:
        """§12: on a gap, ``subscribe`` with ``since`` unless one is already on its way (its reply repairs
        whatever is missing); on a divergence, ``subscribe`` without ``since`` unless such a one is on its
        way (a reply to a ``since`` would bring back the delta that did not apply)."""
        pending = self._outstanding.get(mirror.topic, {})
        if outcome is Outcome.GAP:
            if pending:
                return
            self.stats.gaps += 1
        else:
            if any(pending.values()):
                return
            self.stats.diverged += 1
        reaction.subscribes.append(self._subscribe(mirror.topic))

    def _failed(self, error: Error, reaction: Reaction) -> None:
        """An ``error``: about one of our ``subscribe`` requests, or not ours to handle."""
        topic = None if error.id is None else self._settle(error.id)
        if topic is None or topic not in self._mirrors:
            return
        if self._mirrors[topic].synced and error.error_code in RETRYABLE:
            reaction.retries.append((topic, error.retry_after_ms or RETRY_DELAY_MS))
            return
        self.drop(topic)
        reaction.failures.append((topic, error))
        reaction.updates.append(Update(topic, "unsubscribed", Unsubscribed(topic=topic, reason=error.code)))
