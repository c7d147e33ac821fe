"""`TopicRefused`: the error of a subscription the hub must refuse (PROTOCOL.md §8).

Its own module: the directory raises it, and the services whose topics the directory serves (the
embedded boards) and the hub's session catch it, without importing the directory itself.
"""

from __future__ import annotations

from protocol import ErrorCode


class TopicRefused(Exception):
    """A subscription the hub must refuse: ``code`` is ``forbidden_topic`` or ``unknown_topic``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def unknown_topic(message: str) -> TopicRefused:
    """The refusal of a topic that matches the grammar but names nothing (``unknown_topic``)."""
    return TopicRefused(ErrorCode.UNKNOWN_TOPIC, message)


__all__ = ["TopicRefused", "unknown_topic"]
